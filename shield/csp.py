"""Content-Security-Policy for our HTML pages.

Scripts only from our own origin (no inline script anywhere) and the CDN's edge in front of
it (``CDN_BASE_URL``, which serves our static files, artwork and HLS), images from those and
the TMDb image CDN, media from those, and iframes only from the streaming providers an editor
has enabled, so a disabled provider cannot be framed. Inline styles stay allowed: they cannot
run code, and the admin and error pages use a few.

Only the player pages (views marked ``@frames_players``, ``shield.decorators``) play video and
frame providers. They get the origins that apps register here (streaming registers its enabled
providers'; the shield imports no app), read at most every ``CSP_PROVIDER_CACHE_SECONDS`` per
process (at once in the process where the registering app says they changed), and ``blob:``
twice, for
hls.js: ``media-src`` because Media Source Extensions hand the ``<video>`` a ``blob:`` URL, and
``worker-src`` because hls.js starts its transmuxer worker from a ``blob:`` URL of its own code
(keeping the remuxing of every segment off the page's thread; it could run on that thread with
``enableWorker: false``, but a ``blob:`` worker can only be started by a script already running
here, and ``script-src`` stays ``'self'``). Every other page gets ``'self'`` for all three:
nothing to play or frame there, and no lookup to pay. With nothing registered (or the origins
unreadable) the player pages frame ``'self'`` alone too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse

from shield.decorators import frames_players_of
from streamsite.localcache import LocalCache

logger = logging.getLogger("streamsite.shield")

HEADER = "Content-Security-Policy"

# Each returns URLs (or origins) that player pages may frame; it may query the database.
FrameSource = Callable[[], Iterable[str]]

_sources: list[FrameSource] = []
_origins = LocalCache(maxsize=1)


def register_frame_origins(source: FrameSource) -> None:
    """Let player pages frame the origins of the URLs ``source()`` returns (read when needed,
    then remembered: call :func:`forget_frame_origins` when they change)."""
    if source not in _sources:
        _sources.append(source)


def origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _load_frame_origins() -> tuple[str, ...] | None:
    """The registered origins; None when they cannot be read right now."""
    try:
        # A savepoint: a failed read must not break the transaction the request may be in.
        with transaction.atomic():
            urls = [url for source in _sources for url in source()]
    except DatabaseError:
        logger.warning("CSP: frame origins could not be read; framing only our own origin")
        return None
    return tuple(sorted({origin for origin in map(origin_of, urls) if origin}))


def frame_origins() -> tuple[str, ...]:
    origins = _origins.get("frames")
    if origins is not None:
        return origins
    origins = _load_frame_origins()
    if origins is None:
        return ()  # not remembered: the next player page tries again
    _origins.set("frames", origins, settings.CSP_PROVIDER_CACHE_SECONDS)
    return origins


def forget_frame_origins(**kwargs: Any) -> None:
    """Rebuild the policy on the next player page (also a signal receiver)."""
    _origins.clear()


def policy(*, player: bool) -> str:
    # The CDN's edge serves our static files, artwork and HLS files (CDN_BASE_URL): wherever
    # those load from, its origin is "self" too. hls.js fetches playlists and segments (connect).
    ours = " ".join(filter(None, ["'self'", origin_of(settings.CDN_BASE_URL)]))
    images = " ".join(filter(None, [ours, "data:", origin_of(settings.TMDB_IMAGE_URL)]))
    frames = " ".join(["'self'", *(frame_origins() if player else ())])
    media = f"{ours} blob:" if player else ours
    workers = "'self' blob:" if player else "'self'"
    directives = [
        "default-src 'self'",
        f"script-src {ours}",
        f"style-src {ours} 'unsafe-inline'",
        f"img-src {images}",
        f"media-src {media}",
        f"worker-src {workers}",
        f"connect-src {ours}",
        f"font-src {ours}",
        f"frame-src {frames}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if content_type.startswith("text/html") and HEADER not in response:
            match = request.resolver_match
            player = match is not None and frames_players_of(match.func)
            response[HEADER] = policy(player=player)
        return response
