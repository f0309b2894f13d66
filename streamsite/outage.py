"""The one "Redis is down, leave it alone for a while" rule.

Every path that talks to Redis and has a fallback (the cache answers a miss, the progress
buffer writes to the database, the shield fails open, the breakers keep per-process state)
holds a ``Backoff``. After a failure ``is_down()`` says True for CACHE_OUTAGE_COOLDOWN seconds,
so a Redis that hangs instead of refusing costs one timeout per cool-down per process, not one
per request; then the next call tries again. The warning is logged at most every
``LOG_EVERY`` seconds per backoff while the failures go on: a dead Redis must not flood the
logs. Timed by ``streamsite.clock``, so tests move past a cool-down instead of sleeping.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from streamsite import clock

LOG_EVERY = 30.0

_all: weakref.WeakSet[Backoff] = weakref.WeakSet()
_all_lock = threading.Lock()


class Backoff:
    """Whether to leave a failing Redis alone, for one component of one process.

    ``name`` and ``fallback`` make the warning: "<name>: Redis unavailable (<error>);
    <fallback> for 2.0 s". It goes to ``logger`` (the component's own) when given.
    """

    def __init__(self, name: str, *, fallback: str, logger: logging.Logger | None = None) -> None:
        self.name = name
        self.fallback = fallback
        self._log = logger or logging.getLogger(__name__)
        self._down_until = 0.0
        self._logged_at = float("-inf")
        with _all_lock:
            _all.add(self)

    def is_down(self) -> bool:
        """True during the cool-down after a failure: do not try Redis, take the fallback."""
        return self._down_until != 0.0 and clock.monotonic() < self._down_until

    def failed(self, exc: BaseException) -> None:
        """Redis just failed: start the cool-down (none when CACHE_OUTAGE_COOLDOWN is 0)."""
        now = clock.monotonic()
        cooldown = float(settings.CACHE_OUTAGE_COOLDOWN)
        self._down_until = now + cooldown if cooldown > 0 else 0.0
        if now - self._logged_at >= LOG_EVERY:
            self._logged_at = now
            self._log.warning(
                "%s: Redis unavailable (%s: %s); %s for %.1f s",
                self.name,
                type(exc).__name__,
                exc,
                self.fallback,
                cooldown,
            )

    def recovered(self) -> None:
        """Forget the failure: the next call tries Redis (an operator restarted it; tests)."""
        self._down_until = 0.0
        self._logged_at = float("-inf")


def recover_all() -> None:
    """Every backoff of this process forgets its failure."""
    with _all_lock:
        backoffs = list(_all)
    for backoff in backoffs:
        backoff.recovered()


@receiver(setting_changed)
def _forget_on_new_configuration(*, setting: str, **kwargs: Any) -> None:
    # Another Redis (or another cool-down) in a settings override is not the one that failed.
    if setting in {"CACHES", "CACHE_OUTAGE_COOLDOWN"} or setting.endswith("REDIS_URL"):
        recover_all()
