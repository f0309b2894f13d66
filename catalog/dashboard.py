"""The catalog's tile on the admin dashboard (streamsite.dashboard): what viewers can see."""

from __future__ import annotations

from django.db.models import Count, Q

from catalog.models import Movie
from streamsite import dashboard


def published() -> dashboard.Reading:
    counts = Movie.objects.aggregate(
        total=Count("id"), published=Count("id", filter=Q(is_published=True))
    )
    waiting = counts["total"] - counts["published"]
    detail = f"of {counts['total']:,} films; {waiting:,} waiting for review"
    return dashboard.Reading(
        f"{counts['published']:,}", detail, "ok" if counts["total"] else "idle"
    )


dashboard.register(
    "catalog-published", label="Published films", read=published, order=70,
    link="admin:catalog_movie_changelist", permission="catalog.view_movie",
)  # fmt: skip
