"""The flush run by real Celery worker processes on a real broker and database: driven by the
beat schedule, surviving a worker killed in the middle of a batch, retrying database errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from catalog.models import Movie
from progress import buffer
from progress.buffer import Heartbeat
from progress.models import WatchProgress
from progress.upsert import ProgressRow, write_rows
from streamsite.celery import app
from tests.celery_worker import WorkerFactory, wait_until

ROOT = Path(__file__).resolve().parents[2]
VIEWERS = 3000  # one batch of this many rows: the worker is inside it for a while

pytestmark = pytest.mark.django_db(transaction=True)


# What these workers need beyond the shared defaults: one batch holds every viewer, a short
# lease so a dead flusher's batch is taken again quickly, and quick retries.
PROGRESS_ENV = {
    "PROGRESS_FLUSH_BATCH_SIZE": str(VIEWERS + 100),
    "PROGRESS_FLUSH_LEASE_SECONDS": "2",
    "PROGRESS_FLUSH_BACKOFF_BASE": "0.05",
}


@pytest.fixture
def start_worker(start_celery_worker: WorkerFactory) -> WorkerFactory:
    return functools.partial(start_celery_worker, **PROGRESS_ENV)


@pytest.fixture
def viewers(db: None) -> list[AbstractBaseUser]:
    user_model = get_user_model()
    return user_model.objects.bulk_create(user_model(username=f"v{n}") for n in range(VIEWERS))


def buffer_heartbeats(users: list[AbstractBaseUser], movie: Movie) -> dict[int, float]:
    """One heartbeat per viewer into the Redis buffer; returns what each one said."""
    now = timezone.now()
    expected = {}
    for user in users:
        position = 60.0 + user.pk % 5000
        heartbeat = Heartbeat(
            position=position, duration=7200.0, completed=False, client_ts=now, received_at=now
        )
        assert buffer.update_progress(user_id=user.pk, movie_id=movie.pk, heartbeat=heartbeat) == (
            "buffered"
        )
        expected[user.pk] = position
    return expected


def stored_positions(movie: Movie) -> dict[int, float]:
    return dict(WatchProgress.objects.filter(movie=movie).values_list("user_id", "position"))


def blocked_flush_backends() -> list[int]:
    """Backends of the test database waiting on a lock inside the flush's upsert."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO \"progress_watchprogress\"%%'"
        )
        return [row[0] for row in cursor.fetchall()]


def backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 1


@contextlib.contextmanager
def row_lock(user: AbstractBaseUser, movie: Movie) -> Iterator[psycopg.Connection[Any]]:
    """Hold a row lock on one viewer's progress from another connection until released."""
    db = connection.settings_dict
    conn = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=False
    )
    try:
        conn.execute(
            "SELECT 1 FROM progress_watchprogress WHERE user_id = %s AND movie_id = %s FOR UPDATE",
            [user.pk, movie.pk],
        )
        yield conn
    finally:
        conn.rollback()
        conn.close()


def seed_row(user: AbstractBaseUser, movie: Movie, *, position: float) -> None:
    """A row flushed earlier (older client timestamp): the one the test will lock."""
    earlier = timezone.now() - dt.timedelta(minutes=5)
    write_rows(
        [
            ProgressRow(
                user_id=user.pk,
                movie_id=movie.pk,
                position=position,
                duration=7200.0,
                completed=False,
                client_ts=earlier,
                received_at=earlier,
            )
        ]
    )


def test_beat_schedule_flushes_the_buffer_through_a_real_worker(
    start_worker: WorkerFactory, make_movie: Any, viewers: list[AbstractBaseUser], tmp_path: Path
) -> None:
    movie = make_movie("Flushed by beat")
    expected = buffer_heartbeats(viewers[:50], movie)

    worker = start_worker(
        "--beat", "--schedule", str(tmp_path / "beat-schedule"), PROGRESS_FLUSH_SECONDS="1"
    )
    wait_until(lambda: buffer.pending_count() == 0, 60, "beat never flushed the buffer", worker)

    assert stored_positions(movie) == expected
    assert "Sending due task flush-watch-progress (progress.flush)" in worker.output
    assert "progress flush: 50 rows written" in worker.output


def test_worker_killed_inside_a_batch_loses_nothing(
    start_worker: WorkerFactory, make_movie: Any, viewers: list[AbstractBaseUser]
) -> None:
    movie = make_movie("Interrupted")
    seed_row(viewers[-1], movie, position=10.0)
    expected = buffer_heartbeats(viewers, movie)

    with row_lock(viewers[-1], movie):
        doomed = start_worker()
        app.send_task("progress.flush")
        # The worker's upsert waits on our lock, inside the batch's transaction: it has claimed
        # every entry and inserted part of the batch, none of it committed.
        wait_until(lambda: blocked_flush_backends() != [], 60, "flush never blocked", doomed)
        (backend,) = blocked_flush_backends()
        assert buffer.pending_count() == VIEWERS

        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait(timeout=30)
    # Lock released: the orphaned backend finishes its statement, finds its client gone and
    # rolls back.
    wait_until(lambda: not backend_alive(backend), 60, "the killed worker's backend lingered")

    assert stored_positions(movie) == {viewers[-1].pk: 10.0}  # nothing of the batch committed
    assert buffer.pending_count() == VIEWERS  # and nothing left the buffer

    survivor = start_worker()
    deadline = time.monotonic() + 90
    while buffer.pending_count():  # flush again; the dead worker's lease runs out after 2 s
        assert time.monotonic() < deadline, survivor.output
        app.send_task("progress.flush")
        time.sleep(1)

    assert stored_positions(movie) == expected
    assert f"progress flush: {VIEWERS} rows written" in survivor.output


def test_database_error_in_the_middle_of_a_batch_is_retried(
    start_worker: WorkerFactory, make_movie: Any, viewers: list[AbstractBaseUser]
) -> None:
    movie = make_movie("Retried")
    seed_row(viewers[-1], movie, position=10.0)
    expected = buffer_heartbeats(viewers[:500], movie)
    expected[viewers[-1].pk] = 10.0

    with row_lock(viewers[-1], movie):
        buffer_heartbeats([viewers[-1]], movie)
        expected[viewers[-1].pk] = 60.0 + viewers[-1].pk % 5000
        worker = start_worker()
        app.send_task("progress.flush")
        wait_until(lambda: blocked_flush_backends() != [], 60, "flush never blocked", worker)
        (first,) = blocked_flush_backends()
        with connection.cursor() as cursor:  # the database drops the flush's connection
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        # The worker retries on a fresh connection and blocks on our lock again.
        wait_until(lambda: blocked_flush_backends() not in ([], [first]), 60, "no retry", worker)

    wait_until(lambda: buffer.pending_count() == 0, 60, "retry never committed", worker)
    assert stored_positions(movie) == expected
    assert "retry 1/4" in worker.output
    assert "progress flush: 501 rows written" in worker.output
