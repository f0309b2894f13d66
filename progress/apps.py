from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest

if TYPE_CHECKING:
    from accounts.identity import Token


class ProgressConfig(AppConfig):
    name = "progress"
    verbose_name = "Progress"

    def ready(self) -> None:
        from accounts.history import register_eraser
        from accounts.identity import register_token_resolver
        from catalog.models import Movie
        from progress.history import forget_viewing_history

        # The account page's "Delete my viewing history" deletes what this app keeps.
        register_eraser("progress", forget_viewing_history)
        # The player's playback token identifies its viewer in accounts' one authentication
        # step (the shield buckets heartbeats by it).
        register_token_resolver(_playback_token)

        # Cache invalidation only: a movie changed here is re-checked by its next heartbeat.
        post_save.connect(_forget_watchable, sender=Movie, dispatch_uid="progress-watchable-save")
        post_delete.connect(
            _forget_watchable, sender=Movie, dispatch_uid="progress-watchable-delete"
        )


def _playback_token(request: HttpRequest) -> Token | None:
    """The viewer and movie of a genuine, unexpired playback token in the request's header."""
    from accounts.identity import Token
    from progress import tokens
    from progress.authentication import PlaybackGrant

    grant = tokens.grant_of(request.META.get(tokens.HEADER))
    return None if grant is None else Token(user_id=grant[0], grant=PlaybackGrant(grant[1]))


def _forget_watchable(**kwargs: object) -> None:
    from progress import watchable

    watchable.forget()
