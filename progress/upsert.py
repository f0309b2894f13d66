"""The one statement that writes watch progress: a bulk upsert where the newest client timestamp
wins. The buffer flush writes whole batches with it; without a buffer, single heartbeats go
through it too, so both paths obey the same rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Case, F, Value, When

from progress.models import ViewingSession, WatchProgress


@dataclass(frozen=True)
class Heartbeat:
    """Where one viewer is in one movie, as the player reported it."""

    position: float
    duration: float
    completed: bool
    client_ts: dt.datetime
    received_at: dt.datetime
    session_id: str = ""


@dataclass(frozen=True, kw_only=True)
class ProgressRow(Heartbeat):
    """A heartbeat with the (user, movie) it belongs to: one row of the upsert."""

    user_id: int
    movie_id: int

    @classmethod
    def of(cls, heartbeat: Heartbeat, *, user_id: int, movie_id: int) -> ProgressRow:
        return cls(user_id=user_id, movie_id=movie_id, **vars(heartbeat))


def upsert_progress(rows: Sequence[ProgressRow]) -> int:
    """Insert or update one row per (user, movie) in ONE statement; returns rows written.

    ``bulk_create(update_conflicts=True)`` cannot say "only if newer", so this is raw SQL; the
    ``INSERT … ON CONFLICT … DO UPDATE … WHERE`` form is the same on PostgreSQL and SQLite
    (3.24+). The ``WHERE`` makes the database itself refuse a heartbeat older than the stored
    one, so a late heartbeat never moves progress backwards, even when it is flushed after a
    newer one, and writing the same batch twice changes nothing (a flush may repeat a batch
    whose acknowledgement was lost). Rows refused by the ``WHERE`` are not counted.

    Callers pass at most one row per (user, movie): PostgreSQL refuses to update a row twice
    in one statement. Rows are sorted so concurrent flushes lock rows in the same order and
    cannot deadlock.
    """
    if not rows:
        return 0
    ops = connection.ops
    table = ops.quote_name(WatchProgress._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    # Only the quoted table name and placeholders are interpolated; values are parameters.
    sql = (
        f"INSERT INTO {table} "  # noqa: S608
        "(user_id, movie_id, position, duration, completed, client_ts, updated_at) "
        f"VALUES {values} "
        "ON CONFLICT (user_id, movie_id) DO UPDATE SET "
        "position = excluded.position, duration = excluded.duration, "
        "completed = excluded.completed, client_ts = excluded.client_ts, "
        "updated_at = excluded.updated_at "
        f"WHERE excluded.client_ts > {table}.client_ts"
    )
    params: list[object] = []
    for row in sorted(rows, key=lambda r: (r.user_id, r.movie_id)):
        params += [
            row.user_id,
            row.movie_id,
            row.position,
            row.duration,
            row.completed,
            # The same text/timestamp form the ORM stores, so SQLite compares like with like.
            ops.adapt_datetimefield_value(row.client_ts),
            ops.adapt_datetimefield_value(row.received_at),
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def touch_sessions(rows: Sequence[ProgressRow]) -> int:
    """Move ``last_seen_at`` of the viewing sessions the rows name, in one UPDATE.

    A session only moves when it belongs to the row's user and movie, so a heartbeat cannot
    touch someone else's session by naming its id.
    """
    named = [row for row in rows if row.session_id]
    if not named:
        return 0
    whens = [
        When(
            pk=row.session_id,
            user_id=row.user_id,
            movie_id=row.movie_id,
            last_seen_at__lt=row.received_at,
            then=Value(row.received_at),
        )
        for row in named
    ]
    return ViewingSession.objects.filter(pk__in=[row.session_id for row in named]).update(
        last_seen_at=Case(*whens, default=F("last_seen_at"))
    )


def write_rows(rows: Sequence[ProgressRow]) -> int:
    """Progress and session liveness of one batch, committed together."""
    with transaction.atomic():
        written = upsert_progress(rows)
        touch_sessions(rows)
    return written
