"""Resume points across outages: whatever fails and in whatever order, every read answers the
newest heartbeat by client timestamp (the page's offer, the progress API, continue watching)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from django.utils import timezone

from catalog.models import Movie
from progress import services
from progress.models import WatchProgress
from tests.redis_process import RedisProcess, redis_process

pytestmark = pytest.mark.django_db


@pytest.fixture
def buffer_redis(settings: Any, tmp_path: Path) -> Iterator[RedisProcess]:
    """The buffer on a Redis of this test's own that keeps its data across restarts."""
    with redis_process(data_dir=str(tmp_path)) as server:
        settings.CACHES = server.cache_settings()
        # Every request tries Redis again at once, so nothing hides behind an outage cooldown.
        settings.CACHE_OUTAGE_COOLDOWN = 0.0
        yield server


def heartbeat(viewer: AbstractBaseUser, movie: Movie, position: float, at: dt.datetime) -> str:
    return services.record_heartbeat(
        user_id=viewer.pk,
        movie_id=movie.pk,
        position=position,
        duration=7200.0,
        event="heartbeat",
        client_ts=at,
    )


def what_every_read_answers(viewer: AbstractBaseUser, movie: Movie) -> dict[str, Any]:
    client = Client()
    client.force_login(viewer)
    detail = client.get(movie.get_absolute_url()).content.decode()
    return {
        "api": client.get(f"/api/streaming/progress/{movie.pk}").json()["position"],
        "continue watching": [
            item["position"] for item in client.get("/api/progress").json()["results"]
        ],
        "detail page": "Resume at 33:30" in detail and "Resume at 16:40" not in detail,
        "resume": services.resume_position(user_id=viewer.pk, movie_id=movie.pk),
    }


NEWEST = {"api": 2010.0, "continue watching": [2010.0], "detail page": True, "resume": 2010.0}


def test_after_redis_is_paused_every_read_answers_the_newest_heartbeat(
    buffer_redis: RedisProcess, viewer: AbstractBaseUser, movie: Movie
) -> None:
    start = timezone.now() - dt.timedelta(minutes=1)
    assert heartbeat(viewer, movie, 1000.0, start) == "buffered"

    admin = redis_client.Redis(port=buffer_redis.port)
    admin.execute_command("CLIENT", "PAUSE", 2500, "ALL")
    during = [
        heartbeat(viewer, movie, 2000.0, start + dt.timedelta(seconds=10)),
        heartbeat(viewer, movie, 2010.0, start + dt.timedelta(seconds=20)),
    ]
    admin.ping()  # answered once the pause is over, with the older entry still in Redis

    assert during == ["database", "database"]
    assert what_every_read_answers(viewer, movie) == NEWEST
    services.flush_buffer()
    assert WatchProgress.objects.get().position == 2010.0
    assert what_every_read_answers(viewer, movie) == NEWEST


def test_after_redis_restarts_with_its_data_every_read_answers_the_newest_heartbeat(
    buffer_redis: RedisProcess, viewer: AbstractBaseUser, movie: Movie
) -> None:
    start = timezone.now() - dt.timedelta(minutes=1)
    assert heartbeat(viewer, movie, 1000.0, start) == "buffered"  # not flushed yet

    buffer_redis.stop()
    during = [
        heartbeat(viewer, movie, 2000.0, start + dt.timedelta(seconds=10)),
        heartbeat(viewer, movie, 2010.0, start + dt.timedelta(seconds=20)),
    ]
    buffer_redis.start()  # with the unflushed entry at 1000 still in it

    assert during == ["database", "database"]
    assert what_every_read_answers(viewer, movie) == NEWEST
    services.flush_buffer()  # the older entry must not overwrite the newer row
    assert WatchProgress.objects.get().position == 2010.0
    assert what_every_read_answers(viewer, movie) == NEWEST
    # And the buffer takes over again with the next heartbeat.
    assert heartbeat(viewer, movie, 2020.0, start + dt.timedelta(seconds=30)) == "buffered"
    assert services.resume_position(user_id=viewer.pk, movie_id=movie.pk) == 2020.0
