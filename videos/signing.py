"""Expiring signed URLs for HLS files, checked by nginx's ``secure_link`` (or by Django).

A URL is ``/hls/<signature>/<expires>/<asset>/<file>``. The signature covers the asset and the
expiry only, never the file: the playlists' relative URLs (``720p/index.m3u8``,
``seg_00001.ts``) resolve under the same signed prefix, so one signature opens one asset's
whole tree, and nothing has to rewrite playlists per viewer.

Nor does it cover the viewer (no IP, no user): expiries are rounded up to a bucket boundary,
so every viewer within a bucket gets byte-identical URLs and a CDN stores each segment once.

The signature is what nginx's ``secure_link_md5 "$expires/$asset <key>"`` computes: MD5, in
URL-safe base64 without padding. MD5 is nginx's choice, not ours; the key keeps it unforgeable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math

from django.conf import settings

from cdn import links
from streamsite import clock

PREFIX = "/hls/"


def expiry(*, now: float | None = None) -> int:
    """The next bucket boundary at least ``HLS_URL_LIFETIME`` seconds from ``now``."""
    now = clock.time() if now is None else now
    bucket = settings.HLS_URL_BUCKET
    return math.ceil((now + settings.HLS_URL_LIFETIME) / bucket) * bucket


def signature(asset_id: int, expires: int) -> str:
    message = f"{expires}/{asset_id} {settings.HLS_SIGNING_KEY}".encode()
    digest = hashlib.md5(message, usedforsecurity=False).digest()  # nginx secure_link_md5
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_url(asset_id: int, filename: str, *, now: float | None = None) -> str:
    """The URL of one file of an asset (``master.m3u8``, ``subtitles/en.vtt``), through the CDN's
    edge when there is one (``CDN_BASE_URL``)."""
    return links.public(_signed_path(asset_id, filename, expiry(now=now)))


def _signed_path(asset_id: int, filename: str, expires: int) -> str:
    return f"{PREFIX}{signature(asset_id, expires)}/{expires}/{asset_id}/{filename}"


def live_urls(asset_id: int, filename: str, *, now: float | None = None) -> list[str]:
    """Every URL of the file that has been handed out and not expired yet: one per bucket
    boundary between now and the furthest expiry a link given now gets (what a purge names)."""
    now = clock.time() if now is None else now
    latest = expiry(now=now)
    bucket = settings.HLS_URL_BUCKET
    expiries = range(latest, int(now), -bucket)
    return [links.public(_signed_path(asset_id, filename, expires)) for expires in expiries]


def is_valid(sig: str, expires: int, asset_id: int, *, now: float | None = None) -> bool:
    """True for an unexpired link signed with our key; the same rule nginx applies."""
    if expires < (clock.time() if now is None else now):
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters, which a URL may carry.
    return hmac.compare_digest(sig.encode(), signature(asset_id, expires).encode())
