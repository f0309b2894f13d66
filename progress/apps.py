from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ProgressConfig(AppConfig):
    name = "progress"
    verbose_name = "Progress"

    def ready(self) -> None:
        from accounts.history import register_eraser
        from catalog.models import Movie
        from progress.history import forget_viewing_history

        # The account page's "Delete my viewing history" deletes what this app keeps.
        register_eraser("progress", forget_viewing_history)

        # Cache invalidation only: a movie changed here is re-checked by its next heartbeat.
        post_save.connect(_forget_watchable, sender=Movie, dispatch_uid="progress-watchable-save")
        post_delete.connect(
            _forget_watchable, sender=Movie, dispatch_uid="progress-watchable-delete"
        )


def _forget_watchable(**kwargs: object) -> None:
    from progress import watchable

    watchable.forget()
