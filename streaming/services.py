"""Writes and side effects of the streaming app: health probes and circuit resets."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from streaming.models import Provider
from streaming.providers import adapter_for
from streaming.providers.base import ProbeResult, check_health
from streamsite import cache, metrics, resilience

# A probe still queued after this long is superseded by the next round of the beat schedule
# (streamsite/celery.py probes every 15 s), so a backlog never floods a recovering provider.
PROBE_EXPIRES_SECONDS = 15
# A probe asked for by viewers' failure reports: at most one per provider in this time, so a
# crowd reporting at once (or a client replaying reports) costs the provider one request.
REPORT_PROBE_SECONDS = 10
# Why a player reported a provider: it never proved it played in time, or it failed after.
FAILURE_REASONS = ("no_answer", "error")


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


def report_failure(*, provider: Provider, reason: str) -> bool:
    """A viewer's player could not play ``provider``: probe it now, at most once per interval.

    The report itself is no evidence (any client can send one), so it never counts toward the
    provider's breaker; the probe it starts does, as every probe does, with what the provider
    answers our server. However many viewers report, a provider is probed at most once per
    REPORT_PROBE_SECONDS. Returns True when this report queued a probe.
    """
    metrics.PLAYBACK_FAILURE_REPORTS.labels(provider=provider.slug, reason=reason).inc()
    claimed = cache.add(f"streaming:report-probe:{provider.pk}", 1, REPORT_PROBE_SECONDS)
    if claimed is False:  # None: no cache to share the claim, so each process probes
        return False
    request_probes(provider_ids=[provider.pk])
    return True


def reset_circuit(*, provider: Provider) -> None:
    """Close the provider's circuit now, e.g. after an editor fixed its base URL."""
    resilience.get_breaker(provider.breaker_name).reset()
