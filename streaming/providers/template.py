"""Embed providers described entirely by their admin row: a URL template and parameter names.

Most embed players share one of two shapes, ``/embed/movie/{tmdb_id}`` and ``/movie/{tmdb_id}``,
differing only in the names of their query parameters, so a row in the admin is all a new
provider needs. None of them has a search API, but every one is keyed by TMDb id: searching
TMDb finds what they can play.
"""

from __future__ import annotations

from catalog import tmdb
from streaming.models import Provider
from streaming.providers.base import (
    EMBED,
    Health,
    HealthCheck,
    MovieLike,
    ProviderStatus,
    SearchHit,
    Source,
    circuit_status,
)


class TemplateEmbed:
    """A provider whose player page is ``base_url`` + ``movie_path_template`` + parameters."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def embed_url(self, movie: MovieLike, *, start: int | None = None, **opts: str) -> str:
        return self.source(movie).url(start=start, color=opts.get("color"))

    def sources(self, movie: MovieLike) -> list[Source]:
        return [self.source(movie)]

    def status(self) -> ProviderStatus:
        return circuit_status(self.provider.breaker_name, self.health())

    def search(self, query: str) -> list[SearchHit]:
        """Movies matching ``query`` on TMDb, each with this provider's player URL.

        Raises ``catalog.tmdb.TMDbError`` when TMDb is unconfigured or unreachable.
        """
        return [
            SearchHit(
                tmdb_id=found.tmdb_id,
                title=found.title,
                year=found.release_date.year if found.release_date else None,
                url=self.embed_url(found),
            )
            for found in tmdb.search_movies(query)
        ]

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
