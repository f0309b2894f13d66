from django.apps import AppConfig


class ShieldConfig(AppConfig):
    name = "shield"
    verbose_name = "Shield"
