"""A running server cut off its database: every route family answers at once, from a stale
copy (marked) where one exists and with a 503 saying when to come back where none does, and
the server recovers by itself when the database is back.

gunicorn as deployed, on a Redis of the test's own, talks to the test database through a TCP
proxy the test owns; the shared PostgreSQL itself is never touched. bench/outage.py measures
how long each answer takes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import connection

from accounts.services import create_api_key
from catalog.models import Movie
from streaming.models import Provider
from streamsite import cache
from tests.redis_process import free_port, redis_process
from tests.tcp_proxy import TcpProxy, tcp_proxy

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account
SERVER_NAME = "outage-test-server"  # its connections, told apart in pg_stat_activity


@dataclass
class Site:
    base: str
    proxy: TcpProxy
    movie: Movie

    def get(self, path: str, session: requests.Session | None = None, **headers: str):
        return (session or requests).get(self.base + path, headers=headers, timeout=60)


@contextlib.contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "streamsite.wsgi:application",
        "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "gunicorn exited"
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/api/health/live", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "gunicorn did not come up"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for_other_sessions_to_end(name: str) -> None:
    """The server's connections end with it; the test database can only be dropped after."""
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = %s AND application_name = %s",
                [name, SERVER_NAME],
            )
            if cursor.fetchone()[0] == 0 or time.monotonic() > deadline:
                return
            time.sleep(0.1)


@pytest.fixture
def site(transactional_db, make_movie, settings) -> Iterator[Site]:
    movie = make_movie("Heat", genres=("Crime",), popularity=50.0)
    make_movie("Alien", genres=("Horror",), popularity=40.0)
    Provider.objects.create(
        name="Player",
        slug="player",
        base_url="https://player.example.org",
        movie_path_template="/movie/{tmdb_id}",
        priority=10,
        enabled=True,
    )
    db = connection.settings_dict
    with redis_process() as redis, tcp_proxy((db["HOST"], int(db["PORT"]))) as proxy:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS"))},
            "DATABASE_URL": (
                f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}"
                f"?application_name={SERVER_NAME}"
            ),
            "REDIS_URL": redis.url,
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "LOG_LEVEL": "CRITICAL",
        }
        # This process's cache is the server's, so an edit here reaches the server's entries.
        settings.CACHES = redis.cache_settings()
        with gunicorn(env) as base:
            yield Site(base, proxy, movie)
    wait_for_other_sessions_to_end(db["NAME"])


def signed_in(site: Site) -> requests.Session:
    get_user_model().objects.create_user("viewer", password=PASSWORD)
    session = requests.Session()
    session.get(f"{site.base}/accounts/login/", timeout=30)
    response = session.post(
        f"{site.base}/accounts/login/",
        data={
            "username": "viewer",
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{site.base}/accounts/login/"},
        timeout=30,
    )
    assert response.ok and "sessionid" in session.cookies
    return session


def assert_stale_json(response: requests.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["X-Cache"] == "STALE"
    assert response.json()["degraded"] is True


def assert_unavailable(response: requests.Response, *, json: bool) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    if json:
        assert response.json()["error"] == "unavailable"
    else:
        assert response.headers["Content-Type"].startswith("text/html")
        assert "try again in" in response.text


def test_cut_off_its_database_every_route_family_answers_and_recovers(site: Site) -> None:
    movie, viewer = site.movie, signed_in(site)
    key = create_api_key(user=get_user_model().objects.create_user("batch"), name="jobs").raw_key
    api_key = {"Authorization": f"Api-Key {key}"}
    cached_api = [
        "/api/movies",
        f"/api/movies/{movie.pk}",
        "/api/genres",
        "/api/movies/search?q=heat",
    ]
    sources = f"/api/streaming/sources/{movie.pk}"
    cached_pages = ["/", movie.get_absolute_url()]
    for path in [*cached_api, sources, *cached_pages]:
        assert site.get(path).status_code == 200, path  # anonymous visits fill the caches
    cache.bump("catalog")  # edits landed just before the database went away: what the
    cache.bump("sources")  # caches hold is now a stale copy

    site.proxy.cut()

    for path in cached_api:
        assert_stale_json(site.get(path))
        # The catalog's answers are public: an API key gets the same copy, marked private.
        with_key = site.get(path, **api_key)
        assert_stale_json(with_key)
        assert with_key.headers["Cache-Control"].startswith("private")
    assert_stale_json(site.get(sources))
    for path in cached_pages:
        page = site.get(path)
        assert page.status_code == 200 and page.headers["X-Cache"] == "STALE", path
        assert 'class="degraded-banner"' in page.text
    # Nothing cached to answer with: a clean 503 saying when to come back.
    assert_unavailable(site.get("/api/movies?page_size=5"), json=True)
    assert_unavailable(site.get("/api/movies?page_size=5", **api_key), json=True)
    assert_unavailable(site.get("/api/progress", viewer), json=True)
    assert_unavailable(site.get(f"/api/streaming/progress/{movie.pk}", **api_key), json=True)
    assert_unavailable(site.get(sources, **api_key), json=True)  # its key cannot be checked
    assert_unavailable(site.get("/browse/?year=2000"), json=False)
    assert_unavailable(site.get("/", viewer), json=False)  # signed-in pages are never shared
    health = site.get("/api/health")
    assert health.status_code == 503
    assert health.json()["checks"]["database"]["status"] == "fail"
    assert site.get("/api/health/live").status_code == 200
    assert site.get("/metrics").status_code == 200

    site.proxy.restore()

    deadline = time.monotonic() + 60  # the circuit's reset time, then the pool reconnects
    while site.get("/api/health").status_code != 200:
        assert time.monotonic() < deadline, "the server never got its database back"
        time.sleep(0.5)
    assert site.get("/api/movies?page_size=5").status_code == 200
    assert site.get("/", viewer).status_code == 200
