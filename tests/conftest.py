"""Fixtures shared by the whole suite."""

from __future__ import annotations

import copy
import datetime as dt
import importlib
import itertools
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import pytest
import werkzeug.serving
from django.apps import apps as django_apps
from django.core.cache import cache
from django.core.servers import basehttp
from django.db import connection
from django.test import override_settings
from pytest_django.plugin import blocking_manager_key
from rest_framework.test import APIClient

from catalog.models import Genre, Movie
from catalog.services import GenreData, MovieData, upsert_movie
from streamsite.resilience import database_breaker

pytest_plugins = [
    "tests.conftest_browser",
    "tests.celery_worker",
    "tests.video_fixtures",
    "tests.clock_fixture",
    "tests.child_python",
]

_tmdb_ids = itertools.count(900_000)

# Django's live server (browser tests, the OpenAPI fuzz) and werkzeug's (pytest-httpserver: TMDb,
# providers, Cloudflare) send an answer's headers and its body in two writes. With Nagle's
# algorithm on, the body then waits for the client's delayed ACK of the headers: 40 ms on every
# request. socketserver's own switch turns it off, as runserver does (streamsite/wsgi.py).
basehttp.WSGIRequestHandler.disable_nagle_algorithm = True
werkzeug.serving.WSGIRequestHandler.disable_nagle_algorithm = True
_SEED_PROVIDERS = importlib.import_module("streaming.migrations.0002_seed_providers")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: Sequence[Any]) -> None:
    """Under `pytest -n N`, each worker gets a Redis db of its own, counting down from the
    suite's (REDIS_URL's db 15: workers 15, 14, 13…), so one worker emptying its cache never
    empties another's. The variable is set in the worker's environment before it starts, so
    the settings, Celery and every subprocess a test starts read it. (Each worker's test
    database is pytest-django's, suffixed with the worker's id: test_streamsite_gw0…)"""
    url = os.environ.get("REDIS_URL")
    if not url:
        return
    parts = urlsplit(url)
    first = int(parts.path.strip("/") or 0)
    if len(specs) > first + 1:
        raise pytest.UsageError(
            f"{len(specs)} workers need Redis dbs {first} down to {first - len(specs) + 1}: "
            "give REDIS_URL a higher db number or use fewer workers"
        )
    for number, spec in enumerate(specs):
        spec.env["REDIS_URL"] = parts._replace(path=f"/{first - number}").geturl()


# `make test-fast`, the edit loop's tier, leaves out the tests marked `slow`: those that start
# other processes or servers: a real browser, ffmpeg, nginx, gunicorn, Celery workers, a
# PostgreSQL cluster, the whole topology, or a fresh Python (`child_python`: each imports Django
# again, a second of CPU). They are marked here, by the fixtures and modules that start those,
# so a new test that uses one is in the right tier without anyone remembering to mark it. Tools
# that start in milliseconds and import no Django stay in the edit loop: redis-server for the
# outage tests (tests/redis_process.py), promtool, ffmpeg probing a file without video,
# lint-imports.
SLOW_FIXTURES = frozenset(
    {
        "chromium",  # every browser test
        "make_clip",  # ffmpeg (and make_ready_asset, the pipeline, on top of it)
        "broker",  # real `celery worker` processes
        "topology",  # the compose topology
        "child_python",  # Python processes: settings at start-up, manage.py, races
    }
)
SLOW_MODULES = (
    "tests/deploy/",  # nginx, gunicorn, promtool, kubectl
    "tests/topology/",
    "tests/loadtest/",
    "tests/streamsite/test_replicas.py",  # initdb and pg_basebackup
    "tests/streamsite/test_openapi_fuzz.py",  # thousands of generated requests
    "tests/streamsite/test_metrics.py",  # gunicorn and promtool
    "tests/streamsite/test_database_outage.py",  # gunicorn
    "tests/test_celery_wiring.py",  # celery worker processes
    "tests/catalog/test_demo.py",  # the demo set up from nothing, in other processes
    "tests/cdn/test_edge.py",  # nginx
    "tests/videos/test_delivery.py",  # ffmpeg and nginx
    "tests/videos/test_demo.py",  # ffmpeg
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: left out of `make test-fast` (set by tests/conftest.py from SLOW_*)"
    )


# Under `make test` (pytest -n, --dist loadgroup) the modules below keep their tests on one
# worker: each starts something expensive once per module or package. xdist hands these groups
# out first, biggest first, then the other tests one by one; a test that commits may therefore
# run before a rolled-back one on the same worker (pytest_runtest_teardown below keeps that
# harmless).
XDIST_GROUPS = {
    "tests/topology/": "topology",  # the compose topology
    "tests/streamsite/test_replicas.py": "replicas",  # a primary and a replica
    "tests/deploy/test_k8s.py": "k8s",  # kubectl kustomize of each overlay
    "tests/deploy/test_gunicorn.py": "gunicorn",  # gunicorn, sync and gthread
    "tests/progress/test_player.py": "player",  # ten minutes of video from ffmpeg
    "tests/loadtest/test_smoke.py": "loadtest",  # one load test run through the topology
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slow = pytest.mark.slow
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if uses & SLOW_FIXTURES or item.nodeid.startswith(SLOW_MODULES):
            item.add_marker(slow)
        for prefix, group in XDIST_GROUPS.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures start anything
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Under `--dist loadgroup`, a grouped test fails at once if its group did not take: xdist
    passes the group to the scheduler as a suffix of the node id, a channel that a pytest
    release has already broken once, leaving each worker to start its own topology unseen."""
    grouped = item.get_closest_marker("xdist_group") is not None
    if grouped and getattr(item.config.option, "loadgroup", False):  # set on xdist's workers
        if "@" not in item.nodeid.rpartition("]")[2]:
            pytest.fail(
                "--dist loadgroup lost this test's xdist_group: this pytest and pytest-xdist "
                "do not work together (see requirements-dev.txt)",
                pytrace=False,
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """A test that commits (transactional_db, live_server) ends with every table emptied, which
    also empties the rows a migration seeded (the providers of streaming/0002). They are put
    back as migrate left them, so the next test on this worker sees the database a fresh one
    has, whatever order the tests come in."""
    try:
        return (yield)
    finally:
        if nextitem is not None and _commits(item):  # after the last, the database is gone
            with item.config.stash[blocking_manager_key].unblock():
                _SEED_PROVIDERS.seed(django_apps, None)


def _commits(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return True
    return bool({"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In CI (CI=true) a test that skips itself, e.g. for a missing tool, fails instead: CI
    must run everything `make test` promises."""
    report = yield
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"CI runs every test, and this one skipped: {reason}"
    return report


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """Users are created and signed in by hundreds of tests: hash at one iteration, not a
    million (tests/passwords.py)."""
    with override_settings(PASSWORD_HASHERS=["tests.passwords.OneIterationPBKDF2PasswordHasher"]):
        yield


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
