"""Which movies heartbeats may name, answered without a query per heartbeat.

Every viewer sends a heartbeat every 10 s, and each must name a published movie (else 404).
A process remembers the published ids it has confirmed for a minute: a movie unpublished in the
meantime still takes heartbeats for at most that long, which harms no one. Unknown ids are
never remembered, so a new movie works at once.
"""

from __future__ import annotations

from catalog.models import Movie
from streamsite.localcache import LocalCache

CONFIRMED_FOR_SECONDS = 60.0

_confirmed = LocalCache(maxsize=50_000)


def is_watchable(movie_id: int) -> bool:
    if _confirmed.get(movie_id):
        return True
    if not Movie.objects.published().filter(pk=movie_id).exists():
        return False
    _confirmed.set(movie_id, True, CONFIRMED_FOR_SECONDS)
    return True


def forget() -> None:
    """Drop what this process remembers (a movie was unpublished or deleted here)."""
    _confirmed.clear()
