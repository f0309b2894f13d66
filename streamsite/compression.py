"""gzip for the answers Django sends where no nginx is in front (``make run``, one process).

Behind nginx Django never compresses: nginx asks for no encoding (deploy/nginx) and compresses
at the edge, in C, once per answer it sends. Both follow the same rules:

* Text only: HTML, CSS, JavaScript, JSON, SVG, playlists, subtitles. Video segments and images
  are compressed already, and a byte range (206) must stay a range of the file.
* Never the dynamic answers to a request that carries the session cookie. BREACH recovers a
  secret from the compressed size of answers that also reflect what an attacker chose (a search
  term), by making the victim's browser send many such requests with its cookie. Anonymous
  answers hold no secret worth that: their CSRF token is masked with fresh randomness in every
  response, and Django's gzip adds random padding ("Heal the Breach") on top. Signed-in pages
  hold the viewer's own data next to reflected input, so they go out uncompressed: a few more
  kilobytes per signed-in page view, for no BREACH to reason about. Requests authenticated by
  an ``Authorization`` header (API keys) are compressed: a cross-site page cannot make a
  browser add that header, so the attack has no victim to drive.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware

COMPRESSIBLE_TYPES = frozenset(
    {
        "application/javascript",
        "application/json",
        "application/problem+json",
        "application/vnd.apple.mpegurl",
        "application/vnd.oai.openapi",
        "application/vnd.oai.openapi+json",
        "application/xml",
        "image/svg+xml",
    }
)


def is_compressible(response: HttpResponseBase) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    if response.status_code == 206 or response.has_header("Content-Range"):
        return False
    return content_type.startswith("text/") or content_type in COMPRESSIBLE_TYPES


def is_personal(request: HttpRequest) -> bool:
    """A request with the session cookie, for anything but a static file (those hold no secret)."""
    static_prefix = "/" + settings.STATIC_URL.lstrip("/")
    return settings.SESSION_COOKIE_NAME in request.COOKIES and not request.path.startswith(
        static_prefix
    )


class CompressionMiddleware(GZipMiddleware):
    """Django's GZipMiddleware, for text answers to requests without the session cookie."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if is_personal(request) or not is_compressible(response):
            return response
        return super().process_response(request, response)
