"""Prometheus: who may scrape /metrics, the custom metrics, and multiprocess figures that add up
across the workers of a real gunicorn."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection, connections
from django_prometheus.db.backends.postgresql import base as prometheus_postgresql
from prometheus_client import REGISTRY
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import ConnectionPool

from tests.redis_process import free_port, redis_process

ROOT = Path(__file__).resolve().parents[2]
OUTSIDER = "203.0.113.9"  # TEST-NET-3: never on an allowed network


def latency_count(route: str, method: str = "GET") -> float:
    labels = {"route": route, "method": method}
    return REGISTRY.get_sample_value("streamsite_request_seconds_count", labels) or 0.0


# --- Access ---------------------------------------------------------------------------------


def test_loopback_scrapers_get_the_exposition_format(client):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    for name in (
        "streamsite_cache_requests_total",
        "streamsite_inflight_requests",
        "streamsite_request_seconds_bucket",
        "django_http_requests_latency_including_middlewares_seconds",
    ):
        assert name in text


def test_other_networks_are_refused_with_the_json_error_shape(client):
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDER)

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden" and "token" in response.json()["detail"]


def test_the_bearer_token_lets_a_scraper_in_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "scrape-me-please"

    allowed = client.get(
        "/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer scrape-me-please"
    )
    wrong = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer guess")

    assert (allowed.status_code, wrong.status_code) == (200, 403)


def test_allowed_networks_come_from_settings(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("203.0.113.0/24")]

    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER).status_code == 200
    assert client.get("/metrics").status_code == 403  # loopback is no longer listed


def test_a_request_relayed_by_a_proxy_needs_the_token(client):
    response = client.get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDER)

    assert response.status_code == 403


# --- Custom metrics -------------------------------------------------------------------------


@pytest.mark.django_db
def test_latency_is_labelled_by_route_name_not_by_path(client, make_movie):
    movies = [make_movie("Alien"), make_movie("Heat")]
    before = latency_count("movie-detail"), latency_count("catalog:detail")
    unmatched = latency_count("unmatched")

    for movie in movies:
        client.get(f"/api/movies/{movie.pk}")
        client.get(movie.get_absolute_url())
    client.get("/no/such/page/")

    assert latency_count("movie-detail") == before[0] + 2
    assert latency_count("catalog:detail") == before[1] + 2
    assert latency_count("unmatched") == unmatched + 1
    text = client.get("/metrics").content.decode()
    assert f"/api/movies/{movies[0].pk}" not in text


@pytest.mark.django_db
def test_cache_results_are_counted_by_namespace(client, make_movie):
    movie = make_movie("Alien")

    def count(result: str) -> float:
        labels = {"namespace": "catalog", "result": result}
        return REGISTRY.get_sample_value("streamsite_cache_requests_total", labels) or 0.0

    hits, misses = count("hit"), count("miss")
    client.get(f"/api/movies/{movie.pk}")
    client.get(f"/api/movies/{movie.pk}")
    client.get(f"/api/movies/{movie.pk}")

    assert (count("hit") - hits, count("miss") - misses) == (2, 1)


# --- A real gunicorn in multiprocess mode ---------------------------------------------------


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, workers: int) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "streamsite.wsgi:application",
        "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/metrics", timeout=2):
                    break
            assert time.monotonic() < deadline, "gunicorn did not come up"
            time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        process.communicate(timeout=30)


def worker_pids(arbiter: int) -> list[int]:
    children = Path(f"/proc/{arbiter}/task/{arbiter}/children").read_text().split()
    return [int(pid) for pid in children]


def served_by_pid(directory: Path, route: str) -> dict[int, float]:
    """Per worker, how many requests of ``route`` its own metrics file holds."""
    counts: dict[int, float] = {}
    for path in directory.glob("histogram_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, sample, labels, _ = json.loads(key)
            # Workers store each bucket on its own (the scrape makes them cumulative), so
            # their sum is the number of observations.
            if sample == "streamsite_request_seconds_bucket" and labels.get("route") == route:
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def scrape(base: str) -> dict[str, list]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {"text": text, "families": list(text_string_to_metric_families(text))}


def sample_sum(families: list, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def get(url: str) -> int:
    request = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
        return response.status


@pytest.fixture
def served_catalog(transactional_db, make_movie, tmp_path) -> Iterator[dict]:
    """gunicorn with 2 workers on the test database, a Redis of its own and a metrics dir."""
    movie = make_movie("Alien", popularity=10.0)
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left over by a previous run")
    db = connection.settings_dict
    with redis_process() as redis:
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": redis.url,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SHIELD_ENABLED": "false",  # hundreds of requests from one address on purpose
            # However slow this machine, the first concurrent misses wait for the one loader.
            "CACHE_LOCK_WAIT": "30",
            "LOG_LEVEL": "WARNING",
        }
        with gunicorn(env, workers=2) as (base, process):
            yield {"base": base, "process": process, "dir": metrics_dir, "movie": movie}


def test_a_real_scrape_passes_promtool_and_adds_up_across_workers(served_catalog):
    base, directory = served_catalog["base"], served_catalog["dir"]
    path = f"/api/movies/{served_catalog['movie'].pk}"
    assert not (directory / "counter_1.db").exists()  # wiped at start

    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        # Concurrent connections spread over both workers; keep going until both served some.
        while len(served_by_pid(directory, "movie-detail")) < 2:
            assert sent < 2000, "one worker never got a request"
            statuses = list(pool.map(get, [base + path] * 40))
            assert set(statuses) == {200}
            sent += len(statuses)

    scraped = scrape(base)
    families = scraped["families"]
    per_worker = served_by_pid(directory, "movie-detail")
    count = "streamsite_request_seconds_count"
    assert sample_sum(families, count, route="movie-detail", method="GET") == sent
    assert sum(per_worker.values()) == sent and all(n > 0 for n in per_worker.values())
    cache_reads = sample_sum(families, "streamsite_cache_requests_total", namespace="catalog")
    assert cache_reads == sent
    # One loader across both workers, however many requests missed at the same moment.
    assert sample_sum(families, "streamsite_cache_requests_total", result="miss") == 1
    # The scrape is the one request in flight: the gauge adds live workers up, never per pid.
    assert sample_sum(families, "streamsite_inflight_requests") == 1

    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (scripts/ensure-services.sh installs it)"
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=scraped["text"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_dead_workers_in_flight_gauge_stops_counting(served_catalog):
    base, process, directory = (served_catalog[k] for k in ("base", "process", "dir"))
    victim = worker_pids(process.pid)[0]
    assert (directory / f"gauge_livesum_{victim}.db").exists()

    os.kill(victim, signal.SIGKILL)

    deadline = time.monotonic() + 30
    while (directory / f"gauge_livesum_{victim}.db").exists():
        assert time.monotonic() < deadline, "child_exit did not mark the worker dead"
        time.sleep(0.1)
    assert get(base + "/metrics") == 200
    assert sample_sum(scrape(base)["families"], "streamsite_inflight_requests") == 1


@pytest.mark.django_db
def test_queries_are_counted_through_the_pooled_postgresql_backend(make_movie):
    # streamsite.postgresql adds the database's breaker to django-prometheus's backend.
    assert isinstance(connections["default"], prometheus_postgresql.DatabaseWrapper)
    assert isinstance(connection.pool, ConnectionPool)  # Django's native pool still in use
    labels = {"alias": "default", "vendor": "postgresql"}
    before = REGISTRY.get_sample_value("django_db_execute_total", labels) or 0.0

    make_movie("Alien")

    assert REGISTRY.get_sample_value("django_db_execute_total", labels) > before
