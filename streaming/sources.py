"""Which sources can play a movie right now, best first.

Order: our own HLS first (when the movie has a ready upload), then the enabled providers by
priority. Two layers, because they change at different speeds:

* **Candidates** (the movie and every enabled provider's player URL) come from the database and
  change only when an editor edits a provider or a movie, so they are cached per movie
  (namespace ``sources``, TTL ``CACHE_TTLS["sources"]``) and invalidated by ``signals``.
* **Circuit state** changes whenever a provider fails or recovers, so it is read live on every
  call (one Redis read per provider) and never cached: a provider whose circuit is open is
  skipped at once, not after the cache expires. The health probe (``tasks``) opens and closes
  circuits ahead of viewers, so no viewer request ever waits on a provider.

``SOURCES_LIVE_CHECK`` adds a network check on the request path: the first playable provider is
asked for its health page (through its breaker, with its timeout) before it is handed out, and
the next is tried if it fails. It is off by default: with breakers on, the probe already does
this job off the request path. With breakers off it is the only way to avoid handing viewers a
dead provider, and every request then pays that provider's timeout (bench/sources.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from django.conf import settings

from catalog.models import Movie
from streaming.models import Provider
from streaming.providers import adapter_for, self_hosted
from streaming.providers.base import (
    Health,
    HealthCheck,
    MovieRef,
    ProbeResult,
    ProviderStatus,
    Source,
    check_health,
    circuit_status,
)
from streaming.providers.selfhosted import SLUG as SELF_HOSTED
from streamsite import cache, resilience

NAMESPACE = "sources"


@dataclass(frozen=True)
class Candidates:
    """What the cache holds per movie: everything that comes from the database."""

    movie: MovieRef
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class RankedSource:
    source: Source
    status: ProviderStatus


@dataclass(frozen=True)
class Resolution:
    movie: MovieRef
    playable: tuple[RankedSource, ...]
    skipped: tuple[RankedSource, ...]
    # How the candidates were read: "hit", "miss", or "stale" (the database failed and an old
    # copy answered; callers mark what they serve from it as degraded).
    cache_status: str = "miss"

    @property
    def degraded(self) -> bool:
        return self.cache_status == "stale"

    @property
    def best(self) -> RankedSource | None:
        return self.playable[0] if self.playable else None

    def find(self, provider: str) -> RankedSource | None:
        return next(
            (r for r in (*self.playable, *self.skipped) if r.source.provider == provider), None
        )

    def retry_after(self) -> int:
        """Whole seconds until the soonest skipped circuit lets a probe through."""
        waits = [r.status.retry_after for r in self.skipped if r.status.retry_after is not None]
        soonest = min(waits) if waits else float(settings.CIRCUIT_RESET_SECONDS)
        return max(1, math.ceil(soonest))


def resolve(movie_id: int) -> Resolution | None:
    """The movie's sources, best first; None when no published movie has this id."""
    found = cache.cached(
        NAMESPACE, "movie", movie_id, loader=lambda: load_candidates(movie_id), purpose=NAMESPACE
    )
    if found.value is None:
        return None
    return replace(rank(found.value), cache_status=found.status)


def source_names() -> frozenset[str]:
    """The slug of every source there is (ours, and each provider's), cached with the sources:
    what a player's QoE report may name (``progress.qoe``)."""
    return cache.cached(NAMESPACE, "slugs", loader=_load_source_names, purpose=NAMESPACE).value


def _load_source_names() -> frozenset[str]:
    return frozenset({SELF_HOSTED, *Provider.objects.values_list("slug", flat=True)})


def load_candidates(movie_id: int) -> Candidates | None:
    """The movie, its ready upload (and that one's subtitles), the enabled providers by priority."""
    row = (
        Movie.objects.published()
        .filter(pk=movie_id)
        .values("id", "tmdb_id", "slug", "title")
        .first()
    )
    if row is None:
        return None
    movie = MovieRef(**row)
    found = list(self_hosted().sources(movie))
    for provider in Provider.objects.enabled().by_priority():
        found += adapter_for(provider).sources(movie)
    return Candidates(movie=movie, sources=tuple(found))


def rank(candidates: Candidates) -> Resolution:
    ranked = [RankedSource(source, _status(source)) for source in candidates.sources]
    playable = [r for r in ranked if r.status.playable]
    skipped = [r for r in ranked if not r.status.playable]
    if settings.SOURCES_LIVE_CHECK:
        playable, failed = _verified(playable)
        skipped = sorted([*skipped, *failed], key=lambda r: candidates.sources.index(r.source))
    return Resolution(candidates.movie, tuple(playable), tuple(skipped))


def _status(source: Source) -> ProviderStatus:
    if source.check is None:  # served by us: no remote circuit
        return ProviderStatus(circuit=resilience.CLOSED, health=source.health)
    return circuit_status(source.check.breaker, source.health)


def _verified(playable: list[RankedSource]) -> tuple[list[RankedSource], list[RankedSource]]:
    """Check providers in order until one answers; those that did not are moved aside."""
    failed: list[RankedSource] = []
    for index, ranked in enumerate(playable):
        check = ranked.source.check
        if check is None:
            return playable[index:], failed
        result = check_health(check)
        if result.ok:
            return playable[index:], failed
        failed.append(_failed(ranked, check, result))
    return [], failed


def _failed(ranked: RankedSource, check: HealthCheck, result: ProbeResult) -> RankedSource:
    # The check has just fed the breaker, which may have opened: report its state now.
    status = circuit_status(check.breaker, ranked.source.health)
    health = Health(ok=False, latency_ms=result.latency_ms, detail=result.detail)
    return RankedSource(ranked.source, replace(status, health=health))
