"""Content-Security-Policy for our HTML pages.

Scripts only from our own origin (no inline script anywhere) and the CDN's edge in front of
it (``CDN_BASE_URL``, which serves our static files, artwork and HLS), images from those and
the TMDb image CDN, media from those, and iframes only from the streaming providers an editor
has enabled, so a disabled provider cannot be framed. Inline styles stay allowed: they cannot
run code, and the admin and error pages use a few.

Only the player pages (``CSP_PLAYER_VIEWS``) play video and frame providers. They get the
enabled ``streaming.models.Provider`` origins, read at most every ``CSP_PROVIDER_CACHE_SECONDS``
per process (at once in the process where a provider was saved), and ``blob:`` twice, for
hls.js: ``media-src`` because Media Source Extensions hand the ``<video>`` a ``blob:`` URL, and
``worker-src`` because hls.js starts its transmuxer worker from a ``blob:`` URL of its own code
(keeping the remuxing of every segment off the page's thread; it could run on that thread with
``enableWorker: false``, but a ``blob:`` worker can only be started by a script already running
here, and ``script-src`` stays ``'self'``). Every other page gets ``'self'`` for all three:
nothing to play or frame there, and no lookup to pay. Without the model (or its table) the
player pages frame ``'self'`` alone too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger("streamsite.shield")

HEADER = "Content-Security-Policy"

_cache: dict[str, Any] = {"until": 0.0, "origins": ()}


def origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _load_provider_origins() -> tuple[str, ...] | None:
    """The enabled providers' origins; None when they cannot be read right now."""
    try:
        provider_model = apps.get_model("streaming", "Provider")
    except LookupError:
        return ()
    try:
        # A savepoint: a failed read must not break the transaction the request may be in.
        with transaction.atomic():
            providers: Iterable[Any] = list(provider_model.objects.enabled().only("base_url"))
    except DatabaseError:
        logger.warning("CSP: providers could not be read; framing only our own origin")
        return None
    origins = {origin_of(provider.origin) for provider in providers}
    return tuple(sorted(origin for origin in origins if origin))


def provider_origins() -> tuple[str, ...]:
    now = time.monotonic()
    if _cache["until"] > now:
        return _cache["origins"]
    origins = _load_provider_origins()
    if origins is None:
        return ()  # not remembered: the next player page tries again
    _cache["origins"] = origins
    _cache["until"] = now + settings.CSP_PROVIDER_CACHE_SECONDS
    return origins


def forget_provider_origins(**kwargs: Any) -> None:
    """Signal receiver (Provider saved or deleted): rebuild the policy on the next page."""
    _cache["until"] = 0.0


def policy(*, player: bool) -> str:
    # The CDN's edge serves our static files, artwork and HLS files (CDN_BASE_URL): wherever
    # those load from, its origin is "self" too. hls.js fetches playlists and segments (connect).
    ours = " ".join(filter(None, ["'self'", origin_of(settings.CDN_BASE_URL)]))
    images = " ".join(filter(None, [ours, "data:", origin_of(settings.TMDB_IMAGE_URL)]))
    frames = " ".join(["'self'", *(provider_origins() if player else ())])
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
            player = match is not None and match.view_name in settings.CSP_PLAYER_VIEWS
            response[HEADER] = policy(player=player)
        return response
