"""Viewing statistics for editors, aggregated by the database (GROUP BY with filtered COUNTs).

Definitions, over a window of the last 7 or 30 days:
- views: viewing sessions started (each press of play);
- viewers: people whose progress on the movie changed in the window;
- completion rate: the share of those viewers whose progress is now "completed";
- resumes: sessions that started from a saved position rather than from the beginning.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q

from progress.models import ViewingSession, WatchProgress

WINDOWS = (7, 30)


@dataclass
class Figures:
    """Counts for one movie or genre, per window (days → number)."""

    label: str
    views: dict[int, int] = field(default_factory=lambda: dict.fromkeys(WINDOWS, 0))
    viewers: dict[int, int] = field(default_factory=lambda: dict.fromkeys(WINDOWS, 0))
    completed: dict[int, int] = field(default_factory=lambda: dict.fromkeys(WINDOWS, 0))
    resumes: dict[int, int] = field(default_factory=lambda: dict.fromkeys(WINDOWS, 0))

    def completion_rate(self, days: int) -> float | None:
        """Percent of the window's viewers who finished; None without viewers."""
        if not self.viewers[days]:
            return None
        return round(100.0 * self.completed[days] / self.viewers[days], 1)

    @property
    def completion_7(self) -> float | None:
        return self.completion_rate(7)

    @property
    def completion_30(self) -> float | None:
        return self.completion_rate(30)


@dataclass
class Report:
    movies: list[Figures]
    genres: list[Figures]
    most_resumed: list[Figures]


def _windowed_counts(
    prefix: str, moment: str, since: dict[int, dt.datetime], **extra: Q
) -> dict[str, Any]:
    """COUNT(*) FILTER (WHERE <moment> >= since) per window, plus filtered variants."""
    counts: dict[str, Any] = {}
    for days, start in since.items():
        in_window = Q(**{f"{moment}__gte": start})
        counts[f"{prefix}_{days}"] = Count("id", filter=in_window)
        for name, condition in extra.items():
            counts[f"{name}_{days}"] = Count("id", filter=in_window & condition)
    return counts


def _merge(
    figures: dict[Any, Figures], rows: Any, key: str, label: str, names: tuple[str, ...]
) -> None:
    for row in rows:
        item = figures.setdefault(row[key], Figures(label=row[label] or "(no genre)"))
        for name in names:
            for days in WINDOWS:
                getattr(item, name)[days] = row[f"{name}_{days}"]


def _grouped(key: str, label: str, since: dict[int, dt.datetime]) -> dict[Any, Figures]:
    """Sessions and progress grouped by ``key`` (movie or genre): two GROUP BY queries."""
    oldest = min(since.values())
    figures: dict[Any, Figures] = {}
    sessions = (
        ViewingSession.objects.started_since(oldest)
        .values(key, label)
        .annotate(**_windowed_counts("views", "started_at", since, resumes=Q(resumed_from__gt=0)))
        .order_by()
    )
    _merge(figures, sessions, key, label, ("views", "resumes"))
    progress = (
        WatchProgress.objects.updated_since(oldest)
        .values(key, label)
        .annotate(**_windowed_counts("viewers", "updated_at", since, completed=Q(completed=True)))
        .order_by()
    )
    _merge(figures, progress, key, label, ("viewers", "completed"))
    return figures


def build_report(*, now: dt.datetime, limit: int = 20) -> Report:
    since = {days: now - dt.timedelta(days=days) for days in WINDOWS}
    movies = _grouped("movie_id", "movie__title", since)
    genres = _grouped("movie__genres__name", "movie__genres__name", since)
    by_views = sorted(movies.values(), key=lambda f: (-f.views[30], -f.viewers[30], f.label))
    resumed = [f for f in movies.values() if f.resumes[30]]
    resumed.sort(key=lambda f: (-f.resumes[30], f.label))
    return Report(
        movies=by_views[:limit],
        genres=sorted(genres.values(), key=lambda f: (-f.views[30], f.label)),
        most_resumed=resumed[:10],
    )


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    rate: float | None
    y: int
    width: float
    rate_width: float


CHART_WIDTH = 360.0
ROW_HEIGHT = 28


def view_bars(movies: list[Figures]) -> list[Bar]:
    """Geometry of the chart: 30-day views per movie, with its completion rate beneath."""
    top = max((f.views[30] for f in movies), default=0) or 1
    return [
        Bar(
            label=f.label,
            value=f.views[30],
            rate=f.completion_rate(30),
            y=index * ROW_HEIGHT,
            width=round(CHART_WIDTH * f.views[30] / top, 1),
            rate_width=round(CHART_WIDTH * (f.completion_rate(30) or 0) / 100, 1),
        )
        for index, f in enumerate(movies)
    ]
