"""Cache tags: which rows an answer shows, so a CDN can drop every answer showing a changed row.

While an answer is produced inside ``collecting()``, anything may ``add()`` tags to it (the
catalog adds ``movie-<id>`` for each movie it loads). ``streamsite.http_cache`` keeps the tags
with the cached body and sends them as ``Cache-Tag`` on public answers; the ``cdn`` app purges
by them. Tags name rows, never people: only answers every visitor shares carry them.

Lives here, below every app, so the catalog can add tags and ``http_cache`` can read them
without either knowing the ``cdn`` app.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator

HEADER = "Cache-Tag"
# Cloudflare reads at most 16 KB of Cache-Tag per answer, and nginx refuses an upstream answer
# whose headers pass proxy_buffer_size (4 KB by default, the gateway's) with a 502: an answer
# naming more (about 180 rows) is tagged by its view tag alone (see ``header``).
MAX_HEADER_LENGTH = 2000

_tags: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "streamsite_edge_tags", default=None
)


@contextlib.contextmanager
def collecting() -> Iterator[set[str]]:
    """Gather the tags added inside the block into the set it yields.

    Nested blocks gather for themselves and pass what they gathered to the enclosing one too,
    since the outer answer shows everything the inner one does.
    """
    outer = _tags.get()
    tags: set[str] = set()
    token = _tags.set(tags)
    try:
        yield tags
    finally:
        _tags.reset(token)
        if outer is not None:
            outer.update(tags)


def add(*tags: str) -> None:
    """Tag the answer being produced, if any is (a no-op outside ``collecting()``)."""
    current = _tags.get()
    if current is not None:
        current.update(tags)


def active() -> bool:
    return _tags.get() is not None


def header(tags: Iterable[str], *, always: Iterable[str] = ()) -> str:
    """The ``Cache-Tag`` value: ``always`` first, then the others sorted, comma-separated.

    Over ``MAX_HEADER_LENGTH`` only ``always`` is sent; the purge side then reaches the answer
    through those (a list view's tag), never through a truncated list that misses a movie.
    """
    first = list(dict.fromkeys(always))
    rest = sorted(set(tags) - set(first))
    value = ",".join([*first, *rest])
    return value if len(value) <= MAX_HEADER_LENGTH else ",".join(first)


def parse(value: str) -> list[str]:
    return [tag.strip() for tag in value.split(",") if tag.strip()]
