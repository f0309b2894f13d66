"""Embed providers described entirely by their admin row: a URL template and parameter names.

Most embed players share one of two shapes, ``/embed/movie/{tmdb_id}`` and ``/movie/{tmdb_id}``,
differing only in the names of their query parameters, so a row in the admin is all a new
provider needs. Every one is keyed by TMDb id.
"""

from __future__ import annotations

from streaming.models import Provider
from streaming.providers.base import EMBED, Health, HealthCheck, MovieLike, Source


class TemplateEmbed:
    """A provider whose player page is ``base_url`` + ``movie_path_template`` + parameters."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def sources(self, movie: MovieLike) -> list[Source]:
        return [self.source(movie)]

    def source(self, movie: MovieLike) -> Source:
        provider = self.provider
        path = provider.movie_path_template.format(tmdb_id=int(movie.tmdb_id))
        return Source(
            provider=provider.slug,
            name=provider.name,
            kind=EMBED,
            priority=provider.priority,
            page_url=provider.base_url.rstrip("/") + path,
            params=tuple(self.default_params().items()),
            start_param=provider.start_param,
            color_param=provider.color_param,
            origin=provider.origin,
            health=self.health(),
            check=self.health_check(),
            ready_message=self.ready_message(),
            player_timeout=provider.player_timeout_seconds,
        )

    def ready_message(self) -> str:
        """What the player posts once it plays, as the row says ("" : it posts nothing)."""
        return self.provider.ready_message

    def default_params(self) -> dict[str, str]:
        return {str(name): str(value) for name, value in (self.provider.extra_params or {}).items()}

    def health(self) -> Health:
        provider = self.provider
        return Health(
            ok=provider.last_probe_ok,
            checked_at=provider.last_probe_at,
            latency_ms=provider.last_probe_latency_ms,
            detail=provider.last_probe,
        )

    def health_check(self) -> HealthCheck:
        provider = self.provider
        return HealthCheck(
            provider=provider.slug,
            url=provider.health_url(),
            timeout=provider.timeout_seconds,
            breaker=provider.breaker_name,
        )
