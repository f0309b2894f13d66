"""Real `celery worker` processes for tests: a private Redis broker, workers started on the
test database, their output collected, and every one stopped at the end of the test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from streamsite.celery import app
from tests.redis_process import RedisProcess, redis_process

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Worker:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        wait_until(lambda: text in self.output, timeout, f"worker never printed {text!r}", self)


def wait_until(
    condition: Callable[[], bool], timeout: float, message: str, worker: Worker | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker is not None and worker.process.poll() is not None:
            pytest.fail(f"worker exited ({worker.process.returncode}):\n{worker.output}")
        if time.monotonic() > deadline:
            pytest.fail(f"{message}\n{worker.output if worker else ''}")
        time.sleep(0.1)


@pytest.fixture
def broker(settings: Any) -> Iterator[RedisProcess]:
    """A Redis of the test's own: the buffer of this process and the worker's, and the broker."""
    with redis_process() as redis:
        settings.CACHES = redis.cache_settings()
        saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
        saved_pools = (app._pool, app.amqp._producer_pool)
        app.conf.update(broker_url=redis.url, task_always_eager=False)
        # Connection and producer pools built for another broker must not be reused.
        app._pool = app.amqp._producer_pool = None
        try:
            yield redis
        finally:
            app.conf.update(saved)
            app._pool, app.amqp._producer_pool = saved_pools


WorkerFactory = Callable[..., Worker]


@pytest.fixture
def start_celery_worker(broker: RedisProcess) -> Iterator[WorkerFactory]:
    """Start real `celery worker` processes on the test database and broker."""
    workers: list[Worker] = []

    def start(*extra_args: str, **env_overrides: str) -> Worker:
        db = connection.settings_dict
        env = {
            **os.environ,
            # The database pytest-django created, where this test's rows are committed.
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": broker.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_SETTINGS_MODULE": "streamsite.settings",
            **env_overrides,
        }
        command = [
            sys.executable, "-m", "celery", "-A", "streamsite", "worker", "--loglevel=INFO",
            "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--hostname", f"worker{len(workers)}@%h", *extra_args,
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        worker = Worker(process)
        threading.Thread(target=_collect, args=(worker,), daemon=True).start()
        workers.append(worker)
        worker.wait_for_output(" ready.")
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=30)
        if worker.process.poll() is None:
            worker.process.kill()


def _collect(worker: Worker) -> None:
    assert worker.process.stdout is not None
    for line in worker.process.stdout:
        worker.lines.append(line)
