"""Which movies heartbeats may name, answered without a query per heartbeat.

Every viewer sends a heartbeat every 10 s, and each must name a published movie (else 404).
A process remembers the published ids it has confirmed for a minute: a movie unpublished in the
meantime still takes heartbeats for at most that long, which harms no one. Unknown ids are
never remembered, so a new movie works at once.
"""

from __future__ import annotations

import threading
import time

from catalog.models import Movie

CONFIRMED_FOR_SECONDS = 60.0
_MAX_ENTRIES = 50_000

_confirmed: dict[int, float] = {}
_lock = threading.Lock()


def is_watchable(movie_id: int) -> bool:
    now = time.monotonic()
    if _confirmed.get(movie_id, 0.0) > now:
        return True
    if not Movie.objects.published().filter(pk=movie_id).exists():
        return False
    with _lock:
        if len(_confirmed) >= _MAX_ENTRIES:
            _confirmed.clear()
        _confirmed[movie_id] = now + CONFIRMED_FOR_SECONDS
    return True


def forget() -> None:
    """Drop what this process remembers (a movie was unpublished or deleted here)."""
    with _lock:
        _confirmed.clear()
