"""Cache invalidation, and nothing else: cached sources are dropped when what they show changes.

Bumps happen when the transaction commits (``cache.bump_on_commit``): bumping earlier would let
a reader refill the cache from the rows before the edit, and a rolled-back edit drops nothing.
"""

from __future__ import annotations

from typing import Any

from streaming.models import PROBE_FIELDS
from streaming.sources import NAMESPACE
from streamsite import cache

# The Movie fields a cached source list depends on (see sources.load_candidates).
MOVIE_FIELDS = frozenset({"is_published", "tmdb_id", "slug", "title"})


def provider_changed(
    *, update_fields: frozenset[str] | None = None, using: str | None = None, **kwargs: Any
) -> None:
    # The health probe saves only its own bookkeeping every few seconds; what viewers get
    # does not depend on it (circuit state is read live), so it must not empty the cache.
    if update_fields is not None and set(update_fields) <= PROBE_FIELDS:
        return
    cache.bump_on_commit(NAMESPACE, using=using)


def movie_changed(
    *, update_fields: frozenset[str] | None = None, using: str | None = None, **kwargs: Any
) -> None:
    if update_fields is not None and not set(update_fields) & MOVIE_FIELDS:
        return
    cache.bump_on_commit(NAMESPACE, using=using)


def video_changed(*, using: str | None = None, **kwargs: Any) -> None:
    # A self-hosted upload became ready (or was deleted, or got a subtitle track).
    cache.bump_on_commit(NAMESPACE, using=using)
