"""The one in-process expiring cache: remember a value for some seconds in this process.

For answers that are costly to get and may be a little old (a provider list, an API key's
owner, the health report), where asking Redis or the database on every request would cost more
than the answer is worth. Each process has its own copy, so a change reaches the others only
when their entry expires: keep the seconds short, or drop the entry where the change happens.

Built on cachetools' ``TLRUCache`` (an expiry per entry, least recently used dropped first when
full), timed by ``streamsite.clock.monotonic`` so tests can move past an expiry. cachetools is
not thread-safe; a lock here makes it so, and is never held while a value is made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import TLRUCache

from streamsite import clock

T = TypeVar("T")
_MISSING = object()


def _expiry(key: Hashable, stored: tuple[Any, float], now: float) -> float:
    return now + stored[1]


class LocalCache:
    """At most ``maxsize`` entries, each kept for the seconds it was set with."""

    def __init__(self, maxsize: int) -> None:
        self._entries: TLRUCache[Hashable, tuple[Any, float]] = TLRUCache(
            maxsize=maxsize, ttu=_expiry, timer=clock.monotonic
        )
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value, or ``default`` when absent or expired."""
        with self._lock:
            stored = self._entries.get(key, _MISSING)
        return default if stored is _MISSING else stored[0]

    def set(self, key: Hashable, value: Any, seconds: float) -> None:
        """Keep ``value`` for ``seconds``; zero or less stores nothing (and drops an old value)."""
        with self._lock:
            if seconds > 0:
                self._entries[key] = (value, float(seconds))
            else:
                self._entries.pop(key, None)

    def pop(self, key: Hashable) -> Any:
        """Drop the entry; returns its value, or None when there was none."""
        with self._lock:
            stored = self._entries.pop(key, None)
        return None if stored is None else stored[0]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get_or_set(self, key: Hashable, make: Callable[[], T], seconds: float) -> T:
        """The value if present, else ``make()``'s, kept for ``seconds``.

        Two threads missing at once may both call ``make``; the later result is kept.
        """
        found = self.get(key, _MISSING)
        if found is not _MISSING:
            return found
        value = make()
        self.set(key, value, seconds)
        return value

    def __len__(self) -> int:
        """Entries held, expired ones not yet dropped included (cheap "is anything here?")."""
        return len(self._entries)
