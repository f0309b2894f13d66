"""Self-hosted HLS: the movie's own upload, transcoded to an adaptive ladder by ``videos``.

Always ranked before every embed provider, and never behind a circuit breaker: our own nginx
serves it, so it still plays when every provider is down. Its URLs are signed when a page or an
answer is built (``Source.url``), not here: what this adapter returns is cached.
"""

from __future__ import annotations

from streaming.providers.base import HLS, MovieRef, Source, Track
from videos import services as videos

SLUG = "self-hosted"
NAME = "StreamSite"


class SelfHostedHLS:
    def sources(self, movie: MovieRef) -> list[Source]:
        asset = videos.playing_asset(movie_id=movie.id)
        if asset is None:
            return []
        tracks = tuple(
            Track(language=sub.language, label=sub.label, filename=sub.filename)
            for sub in asset.subtitles.all()
        )
        return [
            Source(
                provider=SLUG,
                name=NAME,
                kind=HLS,
                priority=0,
                page_url=asset.master_playlist,
                asset_id=asset.pk,
                tracks=tracks,
                thumbnails=asset.thumbnails,
            )
        ]
