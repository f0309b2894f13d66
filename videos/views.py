"""HLS files served by Django, for when no nginx is in front (``make run``).

nginx does this job in production (deploy/nginx, ``secure_link``); this view applies the same
signature check and sends the same headers, so the player cannot tell the two apart. It is on
only with ``HLS_SERVED_BY_DJANGO``.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
)
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from videos import signing

# Per file type: what it is and how long browsers and CDNs may keep it. Segments never change
# (a new transcode writes new names under a new asset); playlists and subtitles can be redone.
FILE_TYPES = {
    ".ts": ("video/mp2t", "public, max-age=31536000, immutable"),
    ".m3u8": ("application/vnd.apple.mpegurl", "public, max-age=60"),
    ".vtt": ("text/vtt; charset=utf-8", "public, max-age=300"),
    ".jpg": ("image/jpeg", "public, max-age=31536000, immutable"),  # seek-preview sprites
}
SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


# Files take no writes: a POST is 405 as from nginx, not a CSRF failure page.
@csrf_exempt
@require_safe
def serve_hls(
    request: HttpRequest, signature: str, expires: int, asset_id: int, filename: str
) -> HttpResponse:
    if not settings.HLS_SERVED_BY_DJANGO:
        raise Http404
    if not signing.is_valid(signature, expires, asset_id):
        return HttpResponseForbidden("This video link is forged or has expired.")
    path = _file(asset_id, filename)
    content_type, cache_control = FILE_TYPES[path.suffix]
    response = _ranged(request, path, content_type)
    response["Cache-Control"] = cache_control
    response["Accept-Ranges"] = "bytes"
    return response


def _file(asset_id: int, filename: str) -> Path:
    """The file under the asset's directory; 404 for anything else (``..``, other types)."""
    root = (Path(settings.HLS_ROOT) / str(asset_id)).resolve()
    try:
        path = (root / filename).resolve()
        found = path.is_relative_to(root) and path.suffix in FILE_TYPES and path.is_file()
    except (OSError, ValueError):  # a name too long for the filesystem, a NUL byte
        found = False
    if not found:
        raise Http404
    return path


def _ranged(request: HttpRequest, path: Path, content_type: str) -> HttpResponse:
    """The whole file, or the one byte range asked for (players seek inside segments)."""
    size = path.stat().st_size
    match = SINGLE_RANGE.match(request.headers.get("Range", ""))
    if not match or match.groups() == ("", ""):
        return FileResponse(path.open("rb"), content_type=content_type)
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    else:  # "bytes=-500": the last 500 bytes
        start, end = max(0, size - int(last)), size - 1
    if start > end or start >= size:
        response = HttpResponse(status=416, content_type=content_type)
        response["Content-Range"] = f"bytes */{size}"
        return response
    with path.open("rb") as stream:
        stream.seek(start)
        body = stream.read(end - start + 1)
    response = HttpResponse(body, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response
