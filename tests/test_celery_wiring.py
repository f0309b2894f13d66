"""Celery wiring: a real worker on the Redis broker runs the warming task; without Redis, tasks
run inside the calling process."""

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
import redis as redis_client
from django.db import connection

from catalog import tasks
from streamsite.celery import app
from tests.redis_process import RedisProcess, redis_process

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def broker(settings) -> Iterator[RedisProcess]:
    """A Redis of the test's own as cache and broker, for this process and the worker alike."""
    with redis_process() as redis:
        settings.CACHES = redis.cache_settings()
        saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
        saved_pools = app._pool, app.amqp._producer_pool
        app.conf.update(broker_url=redis.url, task_always_eager=False)
        # Pools built earlier in this process point at the previous broker; Celery drops them
        # the same way after a fork.
        app._pool = app.amqp._producer_pool = None
        try:
            yield redis
        finally:
            app.conf.update(saved)
            app._pool, app.amqp._producer_pool = saved_pools


@dataclass
class Worker:
    process: subprocess.Popen[str]
    output: str = ""


@contextlib.contextmanager
def celery_worker(redis_url: str) -> Iterator[Worker]:
    db = connection.settings_dict
    env = {
        **os.environ,
        # The database pytest-django created, where this test's rows are committed.
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_SETTINGS_MODULE": "streamsite.settings",
    }
    command = [
        sys.executable, "-m", "celery", "-A", "streamsite", "worker", "--loglevel=INFO",
        "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    worker = Worker(
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    )
    try:
        yield worker
    finally:
        worker.process.terminate()
        worker.output = worker.process.communicate(timeout=30)[0]


def warmed_keys(redis: RedisProcess) -> list[bytes]:
    return redis_client.Redis.from_url(redis.url).keys("*catalog:v*:home:*")


def test_a_real_worker_runs_the_warming_task_sent_with_delay(
    transactional_db, make_movie, broker, client
):
    movie = make_movie("Alien", popularity=90.0)

    with celery_worker(broker.url) as worker:
        tasks.warm_cache.delay()

        deadline = time.monotonic() + 90
        while not warmed_keys(broker):
            assert worker.process.poll() is None, worker.process.communicate()[0]
            if time.monotonic() > deadline:
                worker.process.terminate()
                pytest.fail(
                    "the worker did not warm the cache:\n" + worker.process.communicate()[0]
                )
            time.sleep(0.2)

    assert "Task catalog.warm_cache[" in worker.output  # run by the worker, not in this process
    assert client.get("/")["X-Cache"] == "HIT"
    assert client.get(movie.get_absolute_url())["X-Cache"] == "HIT"
    assert client.get(f"/api/movies/{movie.pk}")["X-Cache"] == "HIT"


def test_without_redis_tasks_run_in_the_calling_process(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DJANGO_SETTINGS_MODULE="streamsite.settings",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    code = (
        "import django; django.setup()\n"
        "from catalog.tasks import warm_cache\n"
        "result = warm_cache.delay()\n"
        "print(type(result).__name__, result.get()['failed'], result.get()['warmed'] > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "EagerResult 0 True"
