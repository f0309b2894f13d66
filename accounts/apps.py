from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from accounts import services
        from accounts.models import ApiKey

        # Signals only invalidate caches: a key edited in this process (revoked in the admin)
        # is re-read by the rate limiter on its next use.
        post_save.connect(
            lambda **kwargs: services.forget_cached_api_keys(), sender=ApiKey, weak=False
        )
