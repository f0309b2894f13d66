"""Artwork in the sizes pages show it: the edge resizes our uploaded raster images.

Behind Cloudflare the edge does it itself (``/cdn-cgi/image/width=…,quality=…,format=auto/``
in front of the path: Cloudflare Images' transformations by URL, which must be enabled for the
zone). Behind our own nginx edge, :func:`resize` does it in the origin at ``/cdn/image/<width>/``
and the edge keeps each size. Without an edge nothing is resized.

Only raster files under ``MEDIA_URL`` (posters and backdrops editors uploaded, frames of
videos) are transformed: SVG artwork (generated, or the demo's) is drawn to any size already,
and TMDb's images come in TMDb's own sizes. Widths are rounded up to ``CDN_IMAGE_WIDTHS``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps

from cdn import links

RASTER_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
# What Pillow may open here, and what an editor may upload (validate_artwork).
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
RESIZE_PREFIX = "/cdn/image/"


def allowed_width(width: int) -> int:
    """``width`` rounded up to a width the edge will make (the largest one at most)."""
    widths = settings.CDN_IMAGE_WIDTHS
    return next((w for w in widths if w >= width), widths[-1])


def transformable(url: str) -> bool:
    """One of our uploaded raster images (as its storage addresses it)."""
    path = links.path_of(url)
    media = "/" + settings.MEDIA_URL.strip("/") + "/"
    return (
        links.on_edge(url)
        and path.startswith(media)
        and PurePosixPath(path.split("?", 1)[0]).suffix.lower() in RASTER_SUFFIXES
    )


def resized(url: str, width: int) -> str:
    """The URL of ``url`` at ``width`` pixels wide (rounded up), or ``url`` itself when the edge
    does not resize it."""
    if not settings.CDN_BASE_URL or not transformable(url):
        return url
    width = allowed_width(width)
    path = links.path_of(url)
    if settings.CDN_PROVIDER == "cloudflare":
        options = f"width={width},quality={settings.CDN_IMAGE_QUALITY},format=auto"
        return links.public(f"/cdn-cgi/image/{options}{path}")
    if settings.CDN_PROVIDER == "nginx":
        media = "/" + settings.MEDIA_URL.strip("/") + "/"
        return links.public(f"{RESIZE_PREFIX}{width}/{path.removeprefix(media)}")
    return url


def sizes_of(url: str) -> list[str]:
    """Every URL the pages may address ``url`` by: itself and each of its sizes."""
    found = dict.fromkeys([url])
    for width in settings.CDN_IMAGE_WIDTHS:
        found[resized(url, width)] = None
    return list(found)


@dataclass(frozen=True)
class Resized:
    body: bytes
    content_type: str


class NotAnImage(ValueError):
    pass


def resize(data: bytes, width: int) -> Resized:
    """``data`` (JPEG, PNG or WebP) scaled down to ``width`` pixels wide, in its own format.

    Never scaled up: an image narrower than ``width`` comes back at its own size. The EXIF
    orientation is applied first, since the metadata is dropped.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in FORMATS:
                raise NotAnImage(f"{image.format} is not a format the edge resizes")
            kind = image.format
            image = ImageOps.exif_transpose(image)
            if image.width > width:
                height = max(1, round(image.height * width / image.width))
                image = image.resize((width, height), Image.Resampling.LANCZOS)
            return Resized(_encode(image, kind), FORMATS[kind])
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise NotAnImage(str(exc)) from None


def _encode(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    quality = settings.CDN_IMAGE_QUALITY
    if kind == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    elif kind == "WEBP":
        image.save(out, "WEBP", quality=quality, method=4)
    else:
        image.save(out, "PNG", optimize=True)
    return out.getvalue()


# Larger than any screen shows, small enough that decoding one cannot exhaust a worker.
MAX_UPLOAD_PIXELS = 40_000_000


def validate_artwork(upload: Any) -> None:
    """An editor's poster or backdrop: JPEG, PNG or WebP, at most ``ARTWORK_UPLOAD_MAX_BYTES``
    and ``MAX_UPLOAD_PIXELS``. Runs on uploads only; a stored file is not read again."""
    if getattr(upload, "_committed", True) and not isinstance(upload, UploadedFile):
        return  # the file already stored (a form saved again without a new upload)
    limit = settings.ARTWORK_UPLOAD_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise ValidationError(
            f"The image is {upload.size / 1024**2:.1f} MB; at most {limit / 1024**2:.0f} MB.",
            code="too_large",
        )
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            kind, pixels = image.format, image.width * image.height
            image.verify()
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError):
        raise ValidationError("Upload a JPEG, PNG or WebP image.", code="not_an_image") from None
    finally:
        upload.seek(0)
    if kind not in FORMATS:
        raise ValidationError(
            f"{kind} images are not accepted: use JPEG, PNG or WebP.", code="format"
        )
    if pixels > MAX_UPLOAD_PIXELS:
        raise ValidationError(
            "The image has too many pixels (at most 40 megapixels).", code="pixels"
        )
