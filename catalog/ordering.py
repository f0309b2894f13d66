"""The catalog's one sort vocabulary, shared by the browse page (``?sort=``) and the API
(``?ordering=``).

Each name is one ORDER BY ending in a unique tie-breaker (``id``), so a page boundary never
splits or repeats a film, and one label for the page's menu. Every column is a plain name (an
annotation where a column can be NULL), because DRF's cursor pagination keys its cursor on the
first column and compares it with ``<``/``>``, which a NULL never satisfies: films without a
release date get a stand-in date that sorts them last in both date orders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce


@dataclass(frozen=True)
class Ordering:
    label: str
    order_by: tuple[str, ...]
    # Columns the ORDER BY needs that the table has not: name → expression.
    annotations: dict[str, Any] = field(default_factory=dict)

    def first_column(self, model: type[models.Model]) -> models.Field:
        """The field whose values a cursor position holds."""
        name = self.order_by[0].lstrip("-")
        if name in self.annotations:
            return self.annotations[name].output_field
        return model._meta.get_field(name)


def _release_date_or(stand_in: dt.date) -> Coalesce:
    return Coalesce("release_date", Value(stand_in), output_field=models.DateField())


# The release dates the date orders sort on; Movie's indexes hold the same expressions.
RELEASED_NEWEST_FIRST = _release_date_or(dt.date.min)
RELEASED_OLDEST_FIRST = _release_date_or(dt.date.max)

ORDERINGS: dict[str, Ordering] = {
    "popular": Ordering("Most popular", ("-popularity", "-id")),
    "newest": Ordering("Newest", ("-dated", "-id"), {"dated": RELEASED_NEWEST_FIRST}),
    "oldest": Ordering("Oldest", ("dated", "id"), {"dated": RELEASED_OLDEST_FIRST}),
    "rating": Ordering("Top rated", ("-vote_average", "-vote_count", "-id")),
    "title": Ordering("Title A–Z", ("title", "id")),
}
DEFAULT = "popular"
# Other spellings accepted for a name: the API documented "popularity" before the merge.
ALIASES = {"popularity": "popular"}
# The browse page's menu, in its order.
MENU = ("popular", "newest", "rating", "title")


def ordering_named(name: str) -> Ordering:
    return ORDERINGS[ALIASES.get(name, name)]
