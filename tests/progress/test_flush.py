"""The flush: bulk upserts per batch, last write wins in the database, entries leave the buffer
only once their batch committed and only if they did not change meanwhile."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_redis import get_redis_connection
from prometheus_client import REGISTRY

from catalog.models import Movie
from progress import buffer, services
from progress.buffer import Heartbeat
from progress.models import WatchProgress
from progress.upsert import write_rows
from tests.conftest import MovieFactory

pytestmark = pytest.mark.django_db

UPSERT = re.compile(r'^INSERT INTO "progress_watchprogress".*ON CONFLICT', re.DOTALL)


def beat(
    position: float,
    *,
    at: dt.datetime | None = None,
    received: dt.datetime | None = None,
    duration: float = 7200.0,
) -> Heartbeat:
    now = timezone.now()
    return Heartbeat(
        position=position,
        duration=duration,
        completed=False,
        client_ts=at or now,
        received_at=received or now,
    )


def send(user: AbstractBaseUser, movie: Movie, heartbeat: Heartbeat) -> str:
    return buffer.update_progress(user_id=user.pk, movie_id=movie.pk, heartbeat=heartbeat)


def stored_position(user: AbstractBaseUser, movie: Movie) -> float:
    return WatchProgress.objects.get(user=user, movie=movie).position


def test_flush_writes_each_batch_with_one_bulk_upsert(
    settings: Any, make_movie: MovieFactory, viewer: AbstractBaseUser
) -> None:
    settings.PROGRESS_FLUSH_BATCH_SIZE = 10
    movies = [make_movie(f"Film {n}") for n in range(25)]
    for film in movies:
        send(viewer, film, beat(120.0))

    with CaptureQueriesContext(connection) as queries:
        result = services.flush_buffer()

    upserts = [q["sql"] for q in queries if UPSERT.match(q["sql"])]
    assert len(upserts) == 3  # 10 + 10 + 5
    assert (result.batches, result.entries, result.rows_written) == (3, 25, 25)
    assert WatchProgress.objects.count() == 25
    assert buffer.pending_count() == 0


def test_late_heartbeat_does_not_move_progress_backwards_across_flushes(
    viewer: AbstractBaseUser, movie: Movie
) -> None:
    now = timezone.now()
    send(viewer, movie, beat(2400.0, at=now))
    services.flush_buffer()
    # The clean entry expires from Redis (as it does a day after its last change); a heartbeat
    # sent before the flushed one then arrives: Redis has nothing to compare it with.
    get_redis_connection("default").delete(f"{buffer.ENTRY_PREFIX}{viewer.pk}:{movie.pk}")
    assert send(viewer, movie, beat(1800.0, at=now - dt.timedelta(minutes=10))) == "buffered"

    result = services.flush_buffer()

    assert result.entries == 1
    assert result.rows_written == 0  # the database statement refused it
    assert stored_position(viewer, movie) == 2400.0


def test_database_refuses_an_older_batch_written_after_a_newer_one(
    viewer: AbstractBaseUser, movie: Movie
) -> None:
    """Two flushers holding different versions of one entry may commit in either order."""
    now = timezone.now()
    send(viewer, movie, beat(100.0, at=now))
    older = buffer.claim_batch(size=10, lease_seconds=60)
    send(viewer, movie, beat(200.0, at=now + dt.timedelta(seconds=10)))
    newer = buffer.claim_batch(size=10, lease_seconds=60)

    assert write_rows(newer.rows()) == 1
    assert write_rows(older.rows()) == 0

    assert stored_position(viewer, movie) == 200.0


def test_heartbeat_arriving_during_a_flush_stays_pending_for_the_next_one(
    viewer: AbstractBaseUser, movie: Movie
) -> None:
    now = timezone.now()
    send(viewer, movie, beat(100.0, at=now))
    claim = buffer.claim_batch(size=10, lease_seconds=60)
    # While the batch is being written, the viewer keeps watching.
    send(viewer, movie, beat(110.0, at=now + dt.timedelta(seconds=10)))
    write_rows(claim.rows())
    buffer.acknowledge(claim.entries)

    assert stored_position(viewer, movie) == 100.0
    assert buffer.pending_count() == 1  # compare-and-delete kept the newer version
    services.flush_buffer()
    assert stored_position(viewer, movie) == 110.0
    assert buffer.pending_count() == 0


def test_batch_claimed_by_a_flusher_that_died_before_commit_is_taken_again(
    settings: Any, viewer: AbstractBaseUser, movie: Movie
) -> None:
    send(viewer, movie, beat(300.0))
    buffer.claim_batch(size=10, lease_seconds=0)  # ...and the flusher dies here

    assert buffer.pending_count() == 1
    result = services.flush_buffer()

    assert result.rows_written == 1
    assert stored_position(viewer, movie) == 300.0
    assert buffer.pending_count() == 0


def test_batch_committed_by_a_flusher_that_died_before_acknowledging_is_harmless_to_redo(
    viewer: AbstractBaseUser, movie: Movie
) -> None:
    send(viewer, movie, beat(300.0))
    claim = buffer.claim_batch(size=10, lease_seconds=0)
    write_rows(claim.rows())  # committed, then the flusher dies before acknowledging

    result = services.flush_buffer()

    assert result.entries == 1
    assert result.rows_written == 0  # same client timestamp: nothing changes
    assert stored_position(viewer, movie) == 300.0
    assert buffer.pending_count() == 0


def test_a_live_lease_keeps_a_second_flusher_off_the_same_entries(
    make_movie: MovieFactory, viewer: AbstractBaseUser
) -> None:
    for n in range(6):
        send(viewer, make_movie(f"Film {n}"), beat(60.0))

    first = buffer.claim_batch(size=4, lease_seconds=60)
    second = buffer.claim_batch(size=4, lease_seconds=60)
    third = buffer.claim_batch(size=4, lease_seconds=60)

    assert len(first.entries) == 4
    assert len(second.entries) == 2
    assert third.entries == []
    assert not {e.member for e in first.entries} & {e.member for e in second.entries}


def test_flush_reports_rows_duration_and_oldest_pending_age(
    viewer: AbstractBaseUser, make_movie: MovieFactory, caplog: pytest.LogCaptureFixture
) -> None:
    long_ago = timezone.now() - dt.timedelta(seconds=42)
    send(viewer, make_movie("Old"), beat(100.0, received=long_ago))
    send(viewer, make_movie("New"), beat(100.0))
    rows_before = REGISTRY.get_sample_value("streamsite_progress_flush_rows_total") or 0.0
    flushes_before = REGISTRY.get_sample_value("streamsite_progress_flush_seconds_count") or 0.0

    with caplog.at_level("INFO", logger="streamsite.progress"):
        result = services.flush_buffer()

    assert result.rows_written == 2
    assert 42 <= result.oldest_pending_seconds < 120
    assert REGISTRY.get_sample_value("streamsite_progress_flush_rows_total") == rows_before + 2
    assert REGISTRY.get_sample_value("streamsite_progress_flush_seconds_count") == (
        flushes_before + 1
    )
    oldest = REGISTRY.get_sample_value("streamsite_progress_oldest_pending_seconds")
    assert oldest == result.oldest_pending_seconds
    assert REGISTRY.get_sample_value("streamsite_progress_pending_entries") == 0
    assert "2 rows written from 2 entries in 1 batches" in caplog.text


@pytest.mark.django_db(transaction=True)  # foreign keys are checked at COMMIT
def test_rows_of_a_deleted_movie_are_dropped_instead_of_blocking_the_batch(
    viewer: AbstractBaseUser, make_movie: MovieFactory
) -> None:
    kept, deleted = make_movie("Kept"), make_movie("Deleted")
    send(viewer, kept, beat(500.0))
    send(viewer, deleted, beat(500.0))
    # Deleted between the heartbeat and the flush: its row can never be written.
    Movie.objects.filter(pk=deleted.pk).delete()

    result = services.flush_buffer()

    assert result.rows_written == 1
    assert list(WatchProgress.objects.values_list("movie_id", flat=True)) == [kept.pk]
    assert buffer.pending_count() == 0


def test_completed_and_session_liveness_are_flushed_too(
    viewer: AbstractBaseUser, movie: Movie
) -> None:
    session = services.start_viewing_session(user_id=viewer.pk, movie_id=movie.pk, device="tv")
    services.record_heartbeat(
        user_id=viewer.pk,
        movie_id=movie.pk,
        position=7000.0,
        duration=7200.0,
        event="heartbeat",
        client_ts=timezone.now(),
        session_id=session.id,
    )

    services.flush_buffer()

    row = WatchProgress.objects.get()
    assert row.completed
    assert row.resume_position() == 0.0  # finished: watch again from the start
    session.refresh_from_db()
    assert session.last_seen_at > session.started_at


def test_many_viewers_flush_in_batches_and_match_the_last_heartbeat(
    settings: Any, movie: Movie
) -> None:
    settings.PROGRESS_FLUSH_BATCH_SIZE = 50
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"viewer{n}") for n in range(120)
    )
    start = timezone.now()
    for step in range(3):
        for user in users:
            at = start + dt.timedelta(seconds=10 * step)
            send(user, movie, beat(100.0 + step * 10 + user.pk % 7, at=at))

    result = services.flush_buffer()

    assert (result.batches, result.rows_written) == (3, 120)
    stored = dict(WatchProgress.objects.values_list("user_id", "position"))
    assert stored == {user.pk: 120.0 + user.pk % 7 for user in users}
