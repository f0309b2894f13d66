"""This process's short memory of blocked clients.

A block seen in Redis is remembered here for ``SHIELD_BLOCK_CACHE_SECONDS`` (never past the
block's end), so a client flooding a blocked address costs no Redis traffic meanwhile. Lifting a
block in the admin clears this memory in the process that served the admin; others forget it
within those few seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings

from streamsite import clock
from streamsite.localcache import LocalCache


@dataclass(frozen=True)
class Blocked:
    reason: str
    expires_at: float  # epoch seconds

    def retry_after(self, now: float | None = None) -> int:
        return max(1, math.ceil(self.expires_at - (clock.time() if now is None else now)))


# Bounded under a flood from many addresses: the least recently seen are dropped first.
_blocks = LocalCache(maxsize=10_000)


def remember(ip: str, blocked: Blocked) -> None:
    keep = min(blocked.expires_at - clock.time(), float(settings.SHIELD_BLOCK_CACHE_SECONDS))
    _blocks.set(ip, blocked, keep)


def recall(ip: str) -> Blocked | None:
    return _blocks.get(ip)


def forget(ip: str | None = None) -> None:
    if ip is None:
        _blocks.clear()
    else:
        _blocks.pop(ip)
