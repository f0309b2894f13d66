"""Read replicas, live: a PostgreSQL primary and a streaming replica made here (initdb and
pg_basebackup on free ports), the app under gunicorn pointed at both. Catalog reads land on the
replica; a viewer who wrote reads the write; a replica paused behind its primary is skipped; a
stopped one leaves reads to the primary with no error."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))

pytestmark = [
    pytest.mark.skipif(
        not (PG_BIN / "pg_basebackup").exists() or not shutil.which("runuser"),
        reason="needs PostgreSQL's server binaries (initdb, pg_basebackup, pg_ctl) and runuser",
    ),
    # The suite's test database is the schema copied to the primary: it must exist.
    pytest.mark.django_db,
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.1)


@dataclass
class Server:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/streamsite"

    def pg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return as_postgres(str(PG_BIN / args[0]), *args[1:], check=check)

    def start(self) -> None:
        log = self.directory.parent / f"{self.directory.name}.log"
        self.pg("pg_ctl", "-D", str(self.directory), "-l", str(log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self.pg("pg_ctl", "-D", str(self.directory), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        status = as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.directory), "status", check=False
        )
        return status.returncode == 0

    def sql(
        self, query: str, params: tuple[Any, ...] = (), *, dbname: str = "streamsite"
    ) -> list[tuple[Any, ...]]:
        url = self.url.rsplit("/", 1)[0] + f"/{dbname}"
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []


def as_postgres(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # initdb and postgres refuse to run as root.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [*prefix, *command], capture_output=True, text=True, check=False, timeout=120
    )
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class Cluster:
    primary: Server
    replica: Server


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Not under pytest's own temporary directory: postgres must be able to reach it.
    base = Path(tempfile.mkdtemp(prefix="streamsite-replication-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    primary = Server(base / "primary", free_port())
    replica = Server(base / "replica", free_port())
    as_postgres(str(PG_BIN / "initdb"), "-D", str(primary.directory), "-U", "postgres",
                "--auth=trust", "-E", "UTF8", "--no-sync")  # fmt: skip
    settings = (
        f"port = {primary.port}\nlisten_addresses = '127.0.0.1'\n"
        f"unix_socket_directories = '{base}'\nfsync = off\nwal_level = replica\n"
        "max_wal_senders = 4\nhot_standby = on\nhot_standby_feedback = on\n"
    )
    with (primary.directory / "postgresql.conf").open("a") as conf:
        conf.write(settings)
    primary.start()
    try:
        primary.sql("CREATE DATABASE streamsite", dbname="postgres")
        as_postgres(str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                    "-U", "postgres", "-D", str(replica.directory), "-R", "-X", "stream",
                    "--checkpoint=fast", "--no-sync")  # fmt: skip
        with (replica.directory / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {replica.port}\n")
        replica.start()
        wait_until(
            lambda: (
                primary.sql("SELECT count(*) FROM pg_stat_replication", dbname="postgres")[0][0]
                == 1
            ),
            30,
            "the replica never streamed from the primary",
        )
        yield Cluster(primary, replica)
    finally:
        for server in (replica, primary):
            if server.running():
                server.stop()
        shutil.rmtree(base, ignore_errors=True)


def manage(cluster: Cluster, *args: str) -> str:
    env = {**app_env(cluster), "DATABASE_REPLICA_URLS": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def app_env(cluster: Cluster, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "CELERY_", "PROMETHEUS_", "GUNICORN_"))
    }
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "streamsite.settings",
        "DATABASE_URL": cluster.primary.url,
        "DATABASE_REPLICA_URLS": cluster.replica.url,
        "DATABASE_REPLICA_CHECK_SECONDS": "0.2",
        # No Redis: progress is written straight to the database, the cache is the process's.
        "REDIS_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        **overrides,
    }


SEED = """
import json
from catalog.services import MovieData, GenreData, upsert_movie
from accounts.services import create_api_key
from django.contrib.auth import get_user_model
movies = [upsert_movie(data=MovieData(tmdb_id=900000 + n, title=f"Replicated {n}",
          genres=(GenreData(name="Drama"),)), publish=True)[0].pk for n in range(8)]
viewer, _ = get_user_model().objects.get_or_create(username="replica-viewer")
print(json.dumps({"movies": movies, "key": create_api_key(user=viewer, name="tv").raw_key}))
"""


@pytest.fixture(scope="module")
def seeded(cluster: Cluster, django_db_setup: None, django_db_blocker: Any) -> dict[str, Any]:
    """The schema copied from the suite's test database (migrated once for the whole run,
    where migrating this primary again would take a minute), then a few movies and a viewer."""
    with django_db_blocker.unblock():
        db = connection.settings_dict
        dump = subprocess.run(
            [str(PG_BIN / "pg_dump"), "--no-owner", "--no-privileges", "-h", db["HOST"],
             "-p", str(db["PORT"]), "-U", db["USER"], db["NAME"]],
            capture_output=True, check=True, timeout=120,
            env={**os.environ, "PGPASSWORD": db["PASSWORD"] or ""},
        )  # fmt: skip
    subprocess.run(
        [str(PG_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
         "-p", str(cluster.primary.port), "-U", "postgres", "streamsite"],
        input=dump.stdout, capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(manage(cluster, "shell", "-c", SEED).strip().splitlines()[-1])


@dataclass
class App:
    url: str
    process: subprocess.Popen[bytes]

    def get(self, path: str, **headers: str) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def post(self, path: str, body: dict[str, Any], **headers: str) -> int:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **headers},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=30) as answer:  # noqa: S310
            return answer.read().decode()


def start_app(cluster: Cluster, tmp_path: Path, **overrides: str) -> App:
    port = free_port()
    env = app_env(
        cluster,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        ALLOWED_HOSTS="127.0.0.1",
        **overrides,
    )
    log = (tmp_path / f"gunicorn-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "streamsite.wsgi:application",
         "--config", str(ROOT / "deploy" / "gunicorn.conf.py")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    app = App(f"http://127.0.0.1:{port}", process)

    def up() -> bool:
        assert process.poll() is None, (tmp_path / f"gunicorn-{port}.log").read_text()
        try:
            return app.get("/api/health/live")[0] == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    wait_until(up, 60, "gunicorn did not come up")
    return app


@pytest.fixture(scope="module")
def app(cluster: Cluster, seeded: dict[str, Any], tmp_path_factory: pytest.TempPathFactory):
    """Tolerant of lag: only a replica that is down is skipped."""
    started = start_app(cluster, tmp_path_factory.mktemp("app"), DATABASE_REPLICA_MAX_LAG="3600")
    yield started
    started.process.terminate()
    started.process.wait(timeout=30)


def replica_reads(app: App) -> dict[str, float]:
    reads: dict[str, float] = {}
    for line in app.metrics().splitlines():
        if line.startswith("streamsite_database_reads_total{"):
            alias = line.split('alias="', 1)[1].split('"', 1)[0]
            reads[alias] = float(line.rsplit(" ", 1)[1])
    return reads


def test_catalog_reads_land_on_the_replica(app: App, cluster: Cluster, seeded: dict[str, Any]):
    before = replica_reads(app).get("replica_1", 0.0)

    for size in range(2, 6):  # each page size is a list of its own: no cached copy answers
        status, body = app.get(f"/api/movies?page_size={size}")
        assert status == 200
        assert len(body["results"]) == size

    assert replica_reads(app).get("replica_1", 0.0) > before
    # The replica's own sessions ran the catalog's queries.
    seen = cluster.replica.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'streamsite' "
        "AND query LIKE %s AND pid <> pg_backend_pid()",
        ("%catalog_movie%",),
    )[0][0]
    assert seen >= 1
    health = app.get("/api/health")[1]["checks"]["replicas"]
    assert health["replicas"]["replica_1"]["usable"] is True
    assert 'streamsite_database_replica_lag_seconds{alias="replica_1"}' in app.metrics()


@pytest.fixture
def replay_paused(cluster: Cluster) -> Iterator[None]:
    cluster.replica.sql("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        cluster.replica.sql("SELECT pg_wal_replay_resume()")


def test_a_viewer_reads_their_own_write_while_the_replica_has_not_replayed_it(
    app: App, cluster: Cluster, seeded: dict[str, Any], replay_paused: None
):
    movie = seeded["movies"][0]
    auth = {"Authorization": f"Api-Key {seeded['key']}"}
    heartbeat = {"position": 1234.0, "duration": 7200.0, "client_ts": int(time.time() * 1000)}

    assert app.post(f"/api/streaming/progress/{movie}", heartbeat, **auth) == 202
    status, body = app.get(f"/api/streaming/progress/{movie}", **auth)

    assert status == 200
    assert body["position"] == 1234.0
    # The replica has not replayed the write: the read above was the primary's.
    assert cluster.replica.sql(
        "SELECT count(*) FROM progress_watchprogress WHERE movie_id = %s AND position = 1234",
        (movie,),
    ) == [(0,)]


def test_a_replica_lagging_beyond_the_maximum_is_skipped(
    cluster: Cluster, seeded: dict[str, Any], replay_paused: None, tmp_path: Path
):
    strict = start_app(cluster, tmp_path, DATABASE_REPLICA_MAX_LAG="1")
    try:
        movie = seeded["movies"][1]
        cluster.primary.sql("UPDATE catalog_movie SET title = 'Renamed' WHERE id = %s", (movie,))

        wait_until(
            lambda: (
                strict.get("/api/health")[1]["checks"]["replicas"]["replicas"]["replica_1"][
                    "usable"
                ]
                is False
            ),
            30,
            "the router never found the paused replica behind",
        )
        status, body = strict.get(f"/api/movies/{movie}")

        assert status == 200
        assert body["title"] == "Renamed"  # the primary's row: the replica still has the old
        assert cluster.replica.sql("SELECT title FROM catalog_movie WHERE id = %s", (movie,)) == [
            ("Replicated 1",)
        ]
        health = strict.get("/api/health")[1]["checks"]["replicas"]
        assert health["status"] == "degraded"
        assert health["replicas"]["replica_1"]["lag_seconds"] > 1
    finally:
        strict.process.terminate()
        strict.process.wait(timeout=30)


def test_reads_fall_back_to_the_primary_when_the_replica_stops(
    app: App, cluster: Cluster, seeded: dict[str, Any]
):
    assert app.get("/api/movies?page_size=7")[0] == 200
    cluster.replica.stop()
    try:
        answers = [app.get(f"/api/movies/{movie}") for movie in seeded["movies"][2:]]
        answers += [app.get(f"/api/movies?page_size={size}") for size in (8, 9, 10)]

        assert [status for status, _ in answers] == [200] * len(answers)
        health = app.get("/api/health")[1]["checks"]["replicas"]
        assert health["replicas"]["replica_1"]["usable"] is False
        assert "error" in health["replicas"]["replica_1"]
    finally:
        cluster.replica.start()
