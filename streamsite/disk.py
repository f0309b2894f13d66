"""Free space of the disk the project writes to (MEDIA_ROOT: uploads, artwork, renditions)."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from streamsite import metrics


def free_ratio() -> float:
    """Free share (0 to 1) of the disk holding MEDIA_ROOT, or of / before MEDIA_ROOT exists."""
    root = Path(settings.MEDIA_ROOT)
    usage = shutil.disk_usage(root if root.exists() else "/")
    return usage.free / usage.total


def observe_disk_free() -> None:
    """Set the gauge Prometheus alerts on (DiskFillingUp, DiskAlmostFull) just before a scrape."""
    metrics.DISK_FREE_RATIO.set(free_ratio())
