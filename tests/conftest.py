"""Fixtures shared by the whole suite."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from catalog.models import Genre, Movie
from catalog.services import GenreData, MovieData, upsert_movie
from streamsite.resilience import database_breaker

pytest_plugins = ["tests.conftest_browser", "tests.celery_worker", "tests.video_fixtures"]

_tmdb_ids = itertools.count(900_000)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache (the suite's own Redis db under `make test`)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


MovieFactory = Callable[..., Movie]


@pytest.fixture
def make_movie(db: None) -> MovieFactory:
    """Create a published movie through the same service the importers use."""

    def make(
        title: str = "Untitled",
        *,
        genres: tuple[str, ...] = ("Drama",),
        published: bool = True,
        featured: bool = False,
        release_date: dt.date | None = dt.date(2000, 1, 1),
        **fields: Any,
    ) -> Movie:
        data = MovieData(
            tmdb_id=fields.pop("tmdb_id", next(_tmdb_ids)),
            title=title,
            release_date=release_date,
            genres=tuple(GenreData(name=name) for name in genres),
            featured=featured,
            **fields,
        )
        movie, _ = upsert_movie(data=data, publish=published)
        return movie

    return make


@pytest.fixture
def genre(db: None) -> Genre:
    return Genre.objects.create(name="Science Fiction", slug="science-fiction", tmdb_id=878)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def database_unreachable(transactional_db: None) -> Iterator[Callable[[], None]]:
    """Point the default connection at a port where nothing listens, then put it back."""

    def cut() -> None:
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()
        connection.settings_dict.update(
            HOST="127.0.0.1",
            PORT=str(closed_port()),
            OPTIONS={**connection.settings_dict.get("OPTIONS", {}), "pool": False},
        )

    original = copy.deepcopy(connection.settings_dict)
    yield cut
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(original)
    if hasattr(connection, "close_pool"):
        connection.close_pool()
    database_breaker().reset()  # this process may use the database again at once
