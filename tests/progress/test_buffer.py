"""The Redis buffer: heartbeats cost one Redis call, the newest client timestamp wins, and the
database takes over when there is no Redis or Redis is down."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django_redis import get_redis_connection
from prometheus_client import REGISTRY

from catalog.models import Movie
from progress import buffer, services
from progress.buffer import Heartbeat
from progress.models import WatchProgress
from tests.redis_process import RedisProcess, redis_process

pytestmark = pytest.mark.django_db


def beat(position: float, *, at: dt.datetime | None = None, duration: float = 7200.0) -> Heartbeat:
    now = timezone.now()
    return Heartbeat(
        position=position,
        duration=duration,
        completed=False,
        client_ts=at or now,
        received_at=now,
    )


def send(user: AbstractBaseUser, movie: Movie, heartbeat: Heartbeat) -> str:
    return buffer.update_progress(user_id=user.pk, movie_id=movie.pk, heartbeat=heartbeat)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def private_redis(settings: Any) -> Iterator[RedisProcess]:
    """The cache (and so the buffer) on a redis-server of this test's own, to stop for real."""
    with redis_process() as server:
        settings.CACHES = server.cache_settings()
        yield server


def test_heartbeat_goes_to_redis_not_the_database(viewer: AbstractBaseUser, movie: Movie) -> None:
    result = send(viewer, movie, beat(600.0))

    assert result == "buffered"
    assert not WatchProgress.objects.exists()
    assert buffer.pending_count() == 1
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 600.0


def test_each_viewer_and_movie_is_one_entry_however_many_heartbeats(
    viewer: AbstractBaseUser, movie: Movie
) -> None:
    start = timezone.now()
    for n in range(30):
        send(viewer, movie, beat(10.0 * n, at=start + dt.timedelta(seconds=10 * n)))

    assert buffer.pending_count() == 1
    assert services.flush_buffer().rows_written == 1
    assert WatchProgress.objects.get().position == 290.0


def test_late_heartbeat_does_not_move_progress_backwards_in_redis(
    viewer: AbstractBaseUser, movie: Movie
) -> None:
    now = timezone.now()
    send(viewer, movie, beat(1200.0, at=now))

    result = send(viewer, movie, beat(900.0, at=now - dt.timedelta(seconds=30)))

    assert result == "stale"
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 1200.0


def test_equal_client_timestamp_does_not_overwrite(viewer: AbstractBaseUser, movie: Movie) -> None:
    now = timezone.now()
    send(viewer, movie, beat(1200.0, at=now))

    assert send(viewer, movie, beat(5.0, at=now)) == "stale"
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 1200.0


def test_seeking_backwards_with_a_newer_timestamp_is_honoured(
    viewer: AbstractBaseUser, movie: Movie
) -> None:
    now = timezone.now()
    send(viewer, movie, beat(3000.0, at=now))

    send(viewer, movie, beat(60.0, at=now + dt.timedelta(seconds=1)))

    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 60.0


def test_unflushed_entry_never_expires_and_flushed_one_does(
    viewer: AbstractBaseUser, movie: Movie
) -> None:
    send(viewer, movie, beat(600.0))
    key = f"{buffer.ENTRY_PREFIX}{viewer.pk}:{movie.pk}"
    redis = get_redis_connection("default")

    assert redis.pttl(key) == -1  # no TTL while the database does not have it
    services.flush_buffer()
    # Kept a while after the flush (late heartbeats still compare against it), then dropped.
    assert 0 < redis.pttl(key) <= buffer.CLEAN_TTL_MS
    assert buffer.CLEAN_TTL_MS > 24 * 3600 * 1000
    assert buffer.pending_count() == 0


def test_reads_fall_back_to_the_database(viewer: AbstractBaseUser, movie: Movie) -> None:
    send(viewer, movie, beat(600.0))
    services.flush_buffer()
    get_redis_connection("default").delete(f"{buffer.ENTRY_PREFIX}{viewer.pk}:{movie.pk}")

    progress = buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk)

    assert progress is not None
    assert progress.pk is not None  # the database row
    assert progress.position == 600.0


def test_without_redis_configured_heartbeats_are_written_to_the_database(
    settings: Any, viewer: AbstractBaseUser, movie: Movie
) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    now = timezone.now()

    first = send(viewer, movie, beat(600.0, at=now))
    late = send(viewer, movie, beat(300.0, at=now - dt.timedelta(seconds=10)))

    assert (first, late) == ("database", "stale")
    assert WatchProgress.objects.get().position == 600.0
    assert buffer.pending_count() == 0
    assert services.flush_buffer().rows_written == 0


def test_buffer_can_be_switched_off_to_write_directly(
    settings: Any, viewer: AbstractBaseUser, movie: Movie
) -> None:
    settings.PROGRESS_BUFFER_ENABLED = False

    assert send(viewer, movie, beat(600.0)) == "database"
    assert WatchProgress.objects.get().position == 600.0


def test_redis_down_writes_to_the_database_and_loses_nothing(
    private_redis: RedisProcess,
    settings: Any,
    viewer: AbstractBaseUser,
    movie: Movie,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.CACHE_OUTAGE_COOLDOWN = 0.0
    now = timezone.now()
    assert send(viewer, movie, beat(600.0, at=now)) == "buffered"
    fallbacks = sample("streamsite_progress_redis_fallbacks_total")
    direct = sample("streamsite_progress_heartbeats_total", result="database")

    private_redis.stop()
    result = send(viewer, movie, beat(660.0, at=now + dt.timedelta(seconds=10)))

    assert result == "database"
    assert WatchProgress.objects.get().position == 660.0
    assert sample("streamsite_progress_redis_fallbacks_total") == fallbacks + 1
    assert sample("streamsite_progress_heartbeats_total", result="database") == direct + 1
    assert "Redis unavailable" in caplog.text
    # Reads and the continue-watching row keep working from the database.
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 660.0
    assert [p.position for p in services.continue_watching(user_id=viewer.pk, limit=10)] == [660.0]


def test_redis_down_keeps_last_write_wins_in_the_database(
    private_redis: RedisProcess,
    settings: Any,
    viewer: AbstractBaseUser,
    movie: Movie,
) -> None:
    settings.CACHE_OUTAGE_COOLDOWN = 0.0
    private_redis.stop()
    now = timezone.now()

    send(viewer, movie, beat(900.0, at=now))
    late = send(viewer, movie, beat(100.0, at=now - dt.timedelta(seconds=20)))

    assert late == "stale"
    assert WatchProgress.objects.get().position == 900.0


def test_redis_down_during_removal_clears_the_database_row(
    private_redis: RedisProcess,
    settings: Any,
    viewer: AbstractBaseUser,
    movie: Movie,
) -> None:
    settings.CACHE_OUTAGE_COOLDOWN = 0.0
    send(viewer, movie, beat(900.0))
    services.flush_buffer()
    private_redis.stop()

    assert services.remove_from_continue_watching(user_id=viewer.pk, movie_id=movie.pk)

    assert WatchProgress.objects.get().position == 0.0
    assert services.continue_watching(user_id=viewer.pk, limit=10) == []


def test_after_an_error_redis_is_left_alone_for_the_cooldown(
    private_redis: RedisProcess,
    settings: Any,
    viewer: AbstractBaseUser,
    movie: Movie,
) -> None:
    settings.CACHE_OUTAGE_COOLDOWN = 60.0
    private_redis.stop()
    fallbacks = sample("streamsite_progress_redis_fallbacks_total")

    for n in range(5):
        send(viewer, movie, beat(100.0 + n, at=timezone.now() + dt.timedelta(seconds=n)))

    # One failed attempt, then straight to the database without trying Redis again.
    assert sample("streamsite_progress_redis_fallbacks_total") == fallbacks + 1
    assert WatchProgress.objects.get().position == 104.0
