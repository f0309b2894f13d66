from django.apps import AppConfig


class ShieldConfig(AppConfig):
    name = "shield"
    verbose_name = "Shield"

    def ready(self) -> None:
        from shield import detection, ratelimit

        # A typo in a limit or threshold stops start-up, naming the variable.
        ratelimit.check_settings()
        detection.check_settings()
