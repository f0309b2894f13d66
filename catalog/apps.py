from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        # Receivers: the cache invalidation, and the CDN's tags and purges.
        from catalog import edge, signals  # noqa: F401
