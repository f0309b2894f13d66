"""Fixtures for the watch-progress tests: viewers, a movie, heartbeats, signed-in clients."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.test import APIClient

from catalog.models import Movie
from progress import watchable
from tests.conftest import MovieFactory


@pytest.fixture(autouse=True)
def _forget_watchable_movies() -> None:
    # Movie ids repeat across tests (each test's rows are rolled back), so what one test
    # confirmed as published must not leak into the next.
    watchable.forget()


@pytest.fixture
def viewer(db: None) -> AbstractBaseUser:
    return get_user_model().objects.create_user("viewer", password="correct horse battery")


@pytest.fixture
def other_viewer(db: None) -> AbstractBaseUser:
    return get_user_model().objects.create_user("other", password="correct horse battery")


@pytest.fixture
def movie(make_movie: MovieFactory) -> Movie:
    return make_movie("The Long Film", runtime=120)


@pytest.fixture
def viewer_client(viewer: AbstractBaseUser) -> APIClient:
    client = APIClient()
    client.force_login(viewer)
    return client


def now_ms() -> int:
    return int(time.time() * 1000)


HeartbeatFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def heartbeat() -> HeartbeatFactory:
    """A valid heartbeat body; keyword arguments override fields (None removes one; a callable
    is called now, so a timestamp relative to the clock is taken when the test runs)."""

    def make(**overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "position": 600.0,
            "duration": 7200.0,
            "event": "heartbeat",
            "client_ts": now_ms(),
        }
        body.update({name: v() if callable(v) else v for name, v in overrides.items()})
        return {name: value for name, value in body.items() if value is not None}

    return make


DAY_MS = 24 * 3600 * 1000

# (fields to change, the field the 400 must name): every way a heartbeat body can be wrong.
# Timestamps relative to the clock are callables, taken when the test runs.
INVALID_HEARTBEATS = [
    ({"position": None}, "position"),
    ({"position": "abc"}, "position"),
    ({"position": -1}, "position"),
    ({"position": True}, "position"),
    ({"position": "NaN"}, "position"),
    ({"position": "Infinity"}, "position"),
    ({"duration": None}, "duration"),
    ({"duration": 0}, "duration"),
    ({"duration": -30}, "duration"),
    ({"duration": 24 * 3600 + 1}, "duration"),
    ({"duration": "-inf"}, "duration"),
    ({"client_ts": None}, "client_ts"),
    ({"client_ts": -1}, "client_ts"),  # before 1970: no player's clock
    ({"client_ts": "yesterday"}, "client_ts"),
    ({"client_ts": 1.5}, "client_ts"),
    ({"client_ts": 10**30}, "client_ts"),
    ({"event": "rewind"}, "event"),
    ({"session_id": "not-a-uuid"}, "session_id"),
    ({"volume": 11}, "volume"),
]
