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

        # Signals only invalidate caches. A key saved or deleted anywhere (revoked in the
        # admin) is read again from the database by its next request, in every process...
        def api_key_changed(instance: ApiKey, **kwargs: Any) -> None:
            services.forget_api_key(instance)

        # ...and so is a user or profile saved or deleted, with the user's API keys, which are
        # cached together with their user (accounts/backends.py, accounts/services.py).
        def user_changed(instance: Any, **kwargs: Any) -> None:
            forget_cached_user(instance.pk)
            services.forget_api_keys(user_ids=[instance.pk])

        def profile_changed(instance: Profile, **kwargs: Any) -> None:
            forget_cached_user(instance.user_id)
            services.forget_api_keys(user_ids=[instance.user_id])

        for signal in (post_save, post_delete):
            signal.connect(api_key_changed, sender=ApiKey, weak=False)
            signal.connect(user_changed, sender=get_user_model(), weak=False)
            signal.connect(profile_changed, sender=Profile, weak=False)
