from typing import Any

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from accounts import services
        from accounts.backends import forget_cached_user
        from accounts.models import ApiKey, Profile

        # Signals only invalidate caches: a key edited in this process (revoked in the admin)
        # is re-read by the rate limiter on its next use...
        post_save.connect(
            lambda **kwargs: services.forget_cached_api_keys(), sender=ApiKey, weak=False
        )

        # ...and a user or profile saved or deleted anywhere is re-read from the database by
        # the next request that authenticates as that user (accounts/backends.py).
        def user_changed(instance: Any, **kwargs: Any) -> None:
            forget_cached_user(instance.pk)

        def profile_changed(instance: Profile, **kwargs: Any) -> None:
            forget_cached_user(instance.user_id)

        for signal in (post_save, post_delete):
            signal.connect(user_changed, sender=get_user_model(), weak=False)
            signal.connect(profile_changed, sender=Profile, weak=False)
