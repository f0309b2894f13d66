"""The progress app's tiles on the admin dashboard (streamsite.dashboard): who is watching, the
heartbeat rate, the buffer not yet in the database, and the viewing statistics."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count
from django.utils import timezone

from progress import buffer
from progress.models import ViewingSession
from streamsite import dashboard

# A player sends a heartbeat every 10 s and the buffer reaches the database within a flush
# (30 s by default): a session seen within two minutes is playing.
WATCHING_WINDOW = dt.timedelta(minutes=2)
# Sessions are found by their start (indexed); none plays for longer than this.
LONGEST_SESSION = dt.timedelta(hours=12)


def watching_now() -> dashboard.Reading:
    now = timezone.now()
    playing = ViewingSession.objects.started_since(now - LONGEST_SESSION).filter(
        last_seen_at__gte=now - WATCHING_WINDOW
    )
    figures = playing.aggregate(
        viewers=Count("user", distinct=True), films=Count("movie", distinct=True)
    )
    viewers, films = figures["viewers"], figures["films"]
    if not viewers:
        return dashboard.Reading("0", "Nobody played anything in the last 2 minutes", "idle")
    return dashboard.Reading(
        f"{viewers:,}", f"Viewers in the last 2 minutes, {films:,} film{'s' if films != 1 else ''}"
    )


def heartbeat_rate() -> dashboard.Reading:
    rate = buffer.heartbeats_per_minute()
    if rate is None:
        return dashboard.Reading("—", "Counted in Redis; heartbeats now go to the database", "idle")
    return dashboard.Reading(f"{rate:,.0f}", "Received over the last 60 seconds, every process")


def pending() -> dashboard.Reading:
    if not buffer.is_buffered():
        return dashboard.Reading("—", "No Redis buffer: heartbeats are written directly", "idle")
    count = buffer.pending_count()
    return dashboard.Reading(
        f"{count:,}",
        "Positions in Redis waiting for the next flush",
        "ok" if count < 10_000 else "warning",
    )


VIEW_SESSIONS = "progress.view_viewingsession"

dashboard.register(
    "watching-now", label="Watching now", read=watching_now, order=10, permission=VIEW_SESSIONS,
    link="admin:progress_statistics",
)  # fmt: skip
dashboard.register(
    "heartbeats", label="Heartbeats per minute", read=heartbeat_rate, order=20,
    permission=VIEW_SESSIONS,
)  # fmt: skip
dashboard.register(
    "progress-pending", label="Progress to flush", read=pending, order=25,
    permission="progress.view_watchprogress",
)  # fmt: skip
dashboard.register_report(
    "viewing-statistics", label="Viewing statistics", link="admin:progress_statistics",
    app_label="progress", permission=VIEW_SESSIONS,
)  # fmt: skip
