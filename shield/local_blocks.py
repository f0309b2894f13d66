"""This process's short memory of blocked clients.

A block seen in Redis is remembered here for ``SHIELD_BLOCK_CACHE_SECONDS`` (never past the
block's end), so a client flooding a blocked address costs no Redis traffic meanwhile. Lifting a
block in the admin clears this memory in the process that served the admin; others forget it
within those few seconds.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings

# Bounds memory under a flood from many addresses; clearing everything only costs lookups.
_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Blocked:
    reason: str
    expires_at: float  # epoch seconds

    def retry_after(self, now: float | None = None) -> int:
        return max(1, math.ceil(self.expires_at - (time.time() if now is None else now)))


_entries: dict[str, tuple[float, Blocked]] = {}
_lock = threading.Lock()


def remember(ip: str, blocked: Blocked) -> None:
    keep = min(blocked.expires_at - time.time(), float(settings.SHIELD_BLOCK_CACHE_SECONDS))
    if keep <= 0:
        return
    with _lock:
        if len(_entries) >= _MAX_ENTRIES:
            _entries.clear()
        _entries[ip] = (time.monotonic() + keep, blocked)


def recall(ip: str) -> Blocked | None:
    entry = _entries.get(ip)
    if entry is None or entry[0] <= time.monotonic():
        return None
    return entry[1]


def forget(ip: str | None = None) -> None:
    with _lock:
        if ip is None:
            _entries.clear()
        else:
            _entries.pop(ip, None)
