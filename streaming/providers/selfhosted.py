"""Self-hosted HLS: movies an editor uploaded, transcoded to an adaptive ladder and served by us.

Always ranked before every embed provider. The uploads themselves (``VideoAsset``) arrive with
the HLS pipeline; until then no movie has a ready asset, so this adapter offers nothing.
"""

from __future__ import annotations

from streaming.providers.base import (
    MovieLike,
    ProviderStatus,
    SearchHit,
    Source,
    SourceUnavailable,
)

SLUG = "self-hosted"
NAME = "StreamSite"


class SelfHostedHLS:
    def embed_url(self, movie: MovieLike, *, start: int | None = None, **opts: str) -> str:
        raise SourceUnavailable(f"no self-hosted video for TMDb id {movie.tmdb_id}")

    def sources(self, movie: MovieLike) -> list[Source]:
        return []

    def status(self) -> ProviderStatus:
        # Served by our own nginx: there is no remote circuit to open.
        return ProviderStatus(circuit="closed")

    def search(self, query: str) -> list[SearchHit]:
        return []
