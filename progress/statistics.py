"""Viewing statistics for editors, aggregated by the database (GROUP BY with filtered COUNTs).

Definitions, over a window of the last 7 or 30 days:
- views: viewing sessions started (each press of play);
- viewers: people whose progress on the movie changed in the window;
- completion rate: the share of those viewers whose progress is now "completed";
- resumes: sessions that started from a saved position rather than from the beginning.

And the playback quality players reported (progress/qoe.py), per film and per source: median
start-up, stall ratio, time at each rung and error rate (definitions below).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q, Sum

from progress.models import PlaybackQuality, PlaybackRungTime, ViewingSession, WatchProgress

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


# --- Playback quality (QoE reports) ---------------------------------------------------------
# Over the QoE reports first sent in the window, per film and per source:
# - playbacks: a viewing session's reports for one source (one press of play may try several);
# - median start-up: from choosing the source to its first frame (the database's median);
# - stall ratio: time stalled / (time played + time stalled), over every playback together;
# - time at each rung: each rung's share of the time played (embeds report none);
# - error rate: the share of playbacks that met an error they could not get past.

QUALITY_DAYS = 30


class Median(Aggregate):
    """PostgreSQL's median (percentile_cont(0.5)), ignoring NULLs."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


@dataclass
class Quality:
    label: str
    playbacks: int = 0
    median_startup_ms: float | None = None
    played_ms: int = 0
    stalled_ms: int = 0
    failed: int = 0
    rung_ms: dict[int, int] = field(default_factory=dict)

    @property
    def stall_ratio(self) -> float | None:
        """Percent of the time watched spent stalled."""
        total = self.played_ms + self.stalled_ms
        return round(100.0 * self.stalled_ms / total, 2) if total else None

    @property
    def error_rate(self) -> float | None:
        return round(100.0 * self.failed / self.playbacks, 1) if self.playbacks else None

    @property
    def rung_shares(self) -> list[tuple[str, float]]:
        """(rung name, percent of the time played at it), tallest first."""
        total = sum(self.rung_ms.values())
        if not total:
            return []
        return [
            (f"{height}p" if height else "unknown", round(100.0 * ms / total, 1))
            for height, ms in sorted(self.rung_ms.items(), reverse=True)
        ]


@dataclass
class QualityReport:
    movies: list[Quality]
    sources: list[Quality]
    days: int = QUALITY_DAYS


def _quality_grouped(key: str, label: str, since: dt.datetime, limit: int) -> list[Quality]:
    """The figures of the ``limit`` groups with the most playbacks: three queries."""
    rows = (
        PlaybackQuality.objects.reported_since(since)
        .values(key, label)
        .annotate(
            playbacks=Count("id"),
            played=Sum("played_ms"),
            stalled=Sum("stalled_ms"),
            failed=Count("id", filter=Q(fatal_errors__gt=0)),
            **({"median_startup": Median("startup_ms")} if _has_median() else {}),
        )
        .order_by("-playbacks", label)[:limit]
    )
    found = {
        row[key]: Quality(
            label=row[label] or "(no source)",
            playbacks=row["playbacks"],
            median_startup_ms=row.get("median_startup"),
            played_ms=row["played"] or 0,
            stalled_ms=row["stalled"] or 0,
            failed=row["failed"],
        )
        for row in rows
    }
    if not _has_median():  # SQLite (the demo): the same median, worked out here
        _python_medians(found, key, since)
    rungs = (
        PlaybackRungTime.objects.filter(
            quality__first_reported_at__gte=since, **{f"quality__{key}__in": list(found)}
        )
        .values(f"quality__{key}", "height")
        .annotate(ms=Sum("played_ms"))
        .order_by()
    )
    for row in rungs:
        found[row[f"quality__{key}"]].rung_ms[row["height"]] = row["ms"]
    return list(found.values())


def _has_median() -> bool:
    return connection.vendor == "postgresql"


def _python_medians(found: dict[Any, Quality], key: str, since: dt.datetime) -> None:
    values: dict[Any, list[int]] = {}
    startups = (
        PlaybackQuality.objects.reported_since(since)
        .filter(**{f"{key}__in": list(found)}, startup_ms__isnull=False)
        .values_list(key, "startup_ms")
    )
    for group, startup in startups:
        values.setdefault(group, []).append(startup)
    for group, numbers in values.items():
        found[group].median_startup_ms = float(median(numbers))


def build_quality_report(*, now: dt.datetime, limit: int = 20) -> QualityReport:
    since = now - dt.timedelta(days=QUALITY_DAYS)
    return QualityReport(
        movies=_quality_grouped("session__movie_id", "session__movie__title", since, limit),
        sources=_quality_grouped("source", "source", since, limit),
    )


@dataclass(frozen=True)
class RungBar:
    """One rung's piece of a source's bar in the chart."""

    label: str
    share: float
    x: float
    width: float
    colour: str


@dataclass(frozen=True)
class SourceBar:
    label: str
    y: int
    median_startup_ms: float | None
    pieces: list[RungBar]


LABEL_WIDTH = 200  # where the bars start, after the source's name
# Tallest rung first, darkest first: one colour per rung name across the chart.
RUNG_COLOURS = ("#264653", "#2a9d8f", "#8ab17d", "#e9c46a", "#f4a261", "#e76f51", "#adb5bd")


def rung_bars(sources: list[Quality]) -> tuple[list[SourceBar], list[tuple[str, str]]]:
    """Geometry of the chart: per source, its time at each rung as one stacked bar, and the
    legend (rung name, colour)."""
    names = sorted({height for q in sources for height in q.rung_ms}, reverse=True)
    colour = {
        height: RUNG_COLOURS[min(index, len(RUNG_COLOURS) - 1)]
        for index, height in enumerate(names)
    }
    bars = []
    for index, quality in enumerate(q for q in sources if q.rung_ms):
        total = sum(quality.rung_ms.values())
        x = 0.0
        pieces = []
        for height, ms in sorted(quality.rung_ms.items(), reverse=True):
            width = round(CHART_WIDTH * ms / total, 1)
            pieces.append(
                RungBar(
                    label=f"{height}p" if height else "unknown",
                    share=round(100.0 * ms / total, 1),
                    x=round(LABEL_WIDTH + x, 1),
                    width=width,
                    colour=colour[height],
                )
            )
            x += width
        bars.append(SourceBar(quality.label, index * ROW_HEIGHT, quality.median_startup_ms, pieces))
    legend = [(f"{h}p" if h else "unknown", colour[h]) for h in names]
    return bars, legend
