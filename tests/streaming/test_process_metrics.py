"""Every process exports its metrics where Prometheus scrapes it: a real Celery worker and a real
beat serve theirs on METRICS_PORT (the flush, the provider probes, task outcomes and durations,
the beat's sends), and every panel of the Grafana dashboard charts a series some process
exports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from progress import buffer
from progress.buffer import Heartbeat
from tests.celery_worker import Worker, WorkerFactory, wait_until
from tests.conftest import MovieFactory, closed_port
from tests.redis_process import RedisProcess

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "streamsite.json"

pytestmark = pytest.mark.django_db(transaction=True)

SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str) -> Samples:
    """Every sample of a scrape by series name, and every family named (even with no sample)."""
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (a loopback URL)
        return parse(answer.read().decode())


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        # A family named with no sample yet (a labelled metric nothing has observed) still
        # names its series: a query can chart them from the first observation on.
        for suffix in SERIES_SUFFIXES.get(family.type, ("",)):
            samples.setdefault(family.name + suffix, [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def answering(url: str) -> bool:
    try:
        scrape(url)
    except (urllib.error.URLError, ConnectionError):
        return False
    return True


@pytest.fixture
def start_beat(broker: RedisProcess, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    processes: list[Worker] = []

    def start(**env_overrides: str) -> Worker:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": broker.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_SETTINGS_MODULE": "streamsite.settings",
            **env_overrides,
        }
        command = [
            sys.executable, "-m", "celery", "-A", "streamsite", "beat", "--loglevel=INFO",
            f"--schedule={tmp_path / 'celerybeat-schedule'}",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        beat = Worker(process)
        threading.Thread(target=_collect, args=(beat,), daemon=True).start()
        processes.append(beat)
        return beat

    yield start
    for beat in processes:
        beat.process.terminate()
        try:
            beat.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            beat.process.kill()


def _collect(worker: Worker) -> None:
    assert worker.process.stdout is not None
    for line in worker.process.stdout:
        worker.lines.append(line)


def total(samples: Samples, name: str) -> float:
    return sum(value for _, value in samples.get(name, []))


def test_worker_and_beat_serve_the_flush_probe_and_task_metrics_the_dashboard_charts(
    start_celery_worker: WorkerFactory,
    start_beat: Callable[..., Worker],
    make_movie: MovieFactory,
    make_provider: Callable[..., object],
    provider_server: Callable[[str], object],
) -> None:
    movie = make_movie("Metered")
    viewer = get_user_model().objects.create(username="metered")
    now = timezone.now()
    heartbeat = Heartbeat(
        position=42.0, duration=7200.0, completed=False, client_ts=now, received_at=now
    )
    assert buffer.update_progress(user_id=viewer.pk, movie_id=movie.pk, heartbeat=heartbeat) == (
        "buffered"
    )
    make_provider(provider_server("healthy").base_url)
    worker_port, beat_port = closed_port(), closed_port()
    worker_url = f"http://127.0.0.1:{worker_port}/metrics"
    beat_url = f"http://127.0.0.1:{beat_port}/metrics"

    worker = start_celery_worker(METRICS_PORT=str(worker_port))
    # The beat sends every periodic task when it starts: the flush and the probes among them.
    beat = start_beat(METRICS_PORT=str(beat_port))
    wait_until(lambda: answering(beat_url), 60, "the beat never served its metrics", beat)
    wait_until(
        lambda: (
            total(scrape(worker_url), "streamsite_progress_flush_rows_total") >= 1
            and total(scrape(worker_url), "streamsite_provider_requests_total") >= 1
        ),
        60,
        "the worker never reported a flush and a probe",
        worker,
    )
    wait_until(
        lambda: total(scrape(beat_url), "streamsite_beat_sends_total") >= 2,
        30,
        "the beat never reported its sends",
        beat,
    )

    worker_samples, beat_samples = scrape(worker_url), scrape(beat_url)
    web_answer = Client().get("/metrics")
    assert web_answer.status_code == 200
    web_samples = parse(web_answer.content.decode())

    flushes = {
        labels["outcome"]
        for labels, value in worker_samples["streamsite_celery_tasks_total"]
        if labels["task"] == "progress.flush" and value
    }
    assert flushes == {"success"}
    assert total(worker_samples, "streamsite_celery_task_seconds_count") >= 2
    assert "streamsite_progress_oldest_pending_seconds" in worker_samples
    assert {labels["outcome"] for labels, _ in worker_samples["streamsite_provider_requests_total"]}
    assert {labels["task"] for labels, _ in beat_samples["streamsite_beat_sends_total"]} >= {
        "progress.flush",
        "streaming.tasks.probe_providers",
    }
    # Each panel's query names series some process exports; the ones only background work
    # produces have figures in the worker's scrape.
    exported = set(worker_samples) | set(beat_samples) | set(web_samples)
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = set(re.findall(r"\bstreamsite_\w+", target["expr"]))
            assert names, f"panel {panel['title']!r} charts no streamsite series"
            assert names <= exported, f"panel {panel['title']!r}: {sorted(names - exported)}"
    for worker_only in (
        "streamsite_progress_flush_rows_total",
        "streamsite_progress_oldest_pending_seconds",
        "streamsite_provider_requests_total",
        "streamsite_circuit_state",
    ):
        assert worker_samples.get(worker_only), f"the worker exports no {worker_only} figure"


def test_a_scraper_from_elsewhere_is_refused(settings: object) -> None:
    from streamsite import celery_metrics

    settings.METRICS_PORT = closed_port()  # type: ignore[attr-defined]
    settings.METRICS_ALLOWED_NETWORKS = []  # type: ignore[attr-defined]
    settings.METRICS_TOKEN = "s3cret-token"  # type: ignore[attr-defined]
    server = celery_metrics.serve("worker")
    assert server is not None
    url = f"http://127.0.0.1:{settings.METRICS_PORT}/metrics"  # type: ignore[attr-defined]
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)  # noqa: S310
        request = urllib.request.Request(url, headers={"Authorization": "Bearer s3cret-token"})
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            assert "streamsite_celery_tasks_total" in answer.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        celery_metrics._role["name"] = ""

    assert refused.value.code == 403
