"""The origin side of the self-hosted edge's image resizing (``cdn.images``).

``/cdn/image/<width>/<name>``: the uploaded image ``name`` (relative to ``MEDIA_ROOT``) scaled
down to ``width``, one of ``CDN_IMAGE_WIDTHS`` only. The edge in front keeps each size, so
Pillow runs once per size per purge. Off (404) unless ``CDN_PROVIDER=nginx``: without that edge
in front, every request would resize again.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from cdn import images

# Browsers keep a size a day; the edge keeps it until a purge or CDN_S_MAXAGE.
BROWSER_MAX_AGE = 86_400


@require_safe
def resized_image(request: HttpRequest, width: int, name: str) -> HttpResponse:
    if settings.CDN_PROVIDER != "nginx" or width not in settings.CDN_IMAGE_WIDTHS:
        raise Http404
    path = _media_file(name)
    try:
        result = images.resize(path.read_bytes(), width)
    except (images.NotAnImage, OSError):
        raise Http404 from None
    response = HttpResponse(result.body, content_type=result.content_type)
    response["Cache-Control"] = (
        f"public, max-age={BROWSER_MAX_AGE}, s-maxage={max(settings.CDN_S_MAXAGE, BROWSER_MAX_AGE)}"
    )
    return response


def _media_file(name: str) -> Path:
    root = Path(settings.MEDIA_ROOT).resolve()
    try:
        path = (root / name).resolve()
        found = (
            path.is_relative_to(root)
            and path.suffix.lower() in images.RASTER_SUFFIXES
            and path.is_file()
        )
    except (OSError, ValueError):  # a name too long for the filesystem, a NUL byte
        found = False
    if not found:
        raise Http404
    return path
