"""Catalog background tasks. Thin: they call a service and report its figures."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from catalog import warming


@shared_task(name="catalog.warm_cache", ignore_result=True)
def warm_cache() -> dict[str, int]:
    result = warming.warm_catalog(top_n=settings.CACHE_WARM_TOP_N)
    return {"warmed": result.warmed, "failed": len(result.failed)}
