"""Where public files are addressed: through the edge when ``CDN_BASE_URL`` is set.

Static files and uploaded artwork get there through their storages' ``url()``
(``cdn/storage.py``), HLS files through ``videos.signing``, generated artwork through the
catalog's models; each of them calls :func:`public` and nothing else builds an edge URL.
"""

from __future__ import annotations

from django.conf import settings


def public(path: str) -> str:
    """``path`` (``/static/css/site.css``) on the edge's origin, or as it is without an edge.

    Absolute URLs (TMDb's images) are not ours to move and come back unchanged.
    """
    base = settings.CDN_BASE_URL
    if not base or not path.startswith("/") or path.startswith("//"):
        return path
    return base + path


def on_edge(url: str) -> bool:
    """Whether ``url`` is one of ours as addressed through the edge (or our own origin)."""
    base = settings.CDN_BASE_URL
    if base:
        return url.startswith(base + "/")
    return url.startswith("/") and not url.startswith("//")


def path_of(url: str) -> str:
    """The path of one of our URLs, without the edge's origin."""
    base = settings.CDN_BASE_URL
    return url.removeprefix(base) if base and url.startswith(base + "/") else url
