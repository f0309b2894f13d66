from django.apps import AppConfig, apps
from django.db.models.signals import post_delete, post_save


class ShieldConfig(AppConfig):
    name = "shield"
    verbose_name = "Shield"

    def ready(self) -> None:
        from shield import csp, detection, ratelimit

        # A typo in a limit or threshold stops start-up, naming the variable.
        ratelimit.check_settings()
        detection.check_settings()
        try:
            provider = apps.get_model("streaming", "Provider")
        except LookupError:
            return
        # Signals only invalidate caches: the CSP frame-src is rebuilt from the enabled
        # providers on the next page after one is saved or deleted.
        post_save.connect(csp.forget_provider_origins, sender=provider, weak=False)
        post_delete.connect(csp.forget_provider_origins, sender=provider, weak=False)
