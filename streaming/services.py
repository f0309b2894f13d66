"""Writes and side effects of the streaming app: health probes and circuit resets."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from streaming.models import Provider
from streaming.providers import adapter_for
from streaming.providers.base import ProbeResult, check_health
from streamsite import resilience

# A probe still queued after this long is superseded by the next round of the beat schedule
# (streamsite/celery.py probes every 15 s), so a backlog never floods a recovering provider.
PROBE_EXPIRES_SECONDS = 15


def schedule_probes() -> int:
    """Queue one probe per enabled provider, so a hanging provider delays only its own."""
    ids = list(Provider.objects.enabled().values_list("pk", flat=True))
    request_probes(provider_ids=ids)
    return len(ids)


def request_probes(*, provider_ids: Iterable[int]) -> None:
    from streaming.tasks import probe_provider

    for provider_id in provider_ids:
        transaction.on_commit(
            lambda pk=provider_id: probe_provider.apply_async((pk,), expires=PROBE_EXPIRES_SECONDS)
        )


def probe_provider(*, provider_id: int) -> ProbeResult | None:
    """Ask the provider for its health page through its breaker and record the verdict.

    The breaker counts the outcome, so a provider failing CIRCUIT_FAILURE_THRESHOLD probes in a
    row is skipped by every viewer request from then on, and one good probe after the reset
    timeout brings it back. Returns None for a provider that no longer exists.
    """
    provider = Provider.objects.filter(pk=provider_id).first()
    if provider is None:
        return None
    result = check_health(adapter_for(provider).health_check())
    if result.outcome == "circuit_open":
        return result  # nothing was sent: the last real verdict stands
    provider.last_probe_at = timezone.now()
    provider.last_probe_ok = result.ok
    provider.last_probe_latency_ms = result.latency_ms
    provider.last_probe = result.detail[:255]
    with transaction.atomic():
        provider.save(
            update_fields=["last_probe_at", "last_probe_ok", "last_probe_latency_ms", "last_probe"]
        )
    return result


def reset_circuit(*, provider: Provider) -> None:
    """Close the provider's circuit now, e.g. after an editor fixed its base URL."""
    resilience.get_breaker(provider.breaker_name).reset()
