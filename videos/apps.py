from django.apps import AppConfig


class VideosConfig(AppConfig):
    name = "videos"
    verbose_name = "Self-hosted video"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from videos import edge  # noqa: F401 - connects the CDN purges of video changes
