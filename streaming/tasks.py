"""Background work of the streaming app. Thin: each task takes ids and calls a service."""

from __future__ import annotations

from celery import shared_task

from streaming import services


@shared_task(ignore_result=True)
def probe_providers() -> int:
    return services.schedule_probes()


@shared_task(ignore_result=True)
def probe_provider(provider_id: int) -> None:
    services.probe_provider(provider_id=provider_id)
