"""Storages whose ``url()`` points at the edge (``cdn.links.public``) when there is one.

They read the settings on each call, like ``videos.models.SourceStorage``, so a changed
``CDN_BASE_URL`` (a test's) takes effect without rebuilding storages.
"""

from __future__ import annotations

from django.contrib.staticfiles.storage import StaticFilesStorage
from django.core.files.storage import FileSystemStorage

from cdn import links


class MediaStorage(FileSystemStorage):
    """Uploaded files (posters, backdrops, video frames) under ``MEDIA_ROOT``."""

    def url(self, name: str | None) -> str:
        return links.public(super().url(name))


class StaticStorage(StaticFilesStorage):
    def url(self, name: str | None) -> str:
        return links.public(super().url(name))
