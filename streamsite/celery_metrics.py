"""Metrics of the Celery worker and beat, served where Prometheus scrapes them.

A gunicorn instance serves its figures at ``/metrics``. The worker (which runs the progress flush,
the provider probes and every other task) and the beat have no web server, so each starts a
small one on ``METRICS_ADDRESS``:``METRICS_PORT`` (0, the default: none) when it starts. It
answers any path, to the same clients ``/metrics`` does: an address in
``METRICS_ALLOWED_NETWORKS`` or the ``METRICS_TOKEN`` bearer token.

A prefork worker runs tasks in child processes: with ``PROMETHEUS_MULTIPROC_DIR`` set, each child
writes its figures there and the parent serves their sum, as gunicorn's workers do.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import make_server

# In multiprocess mode the directory must exist before the first metric value is made in this
# process, which importing the metrics below does (this module is imported first, by celery.py).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

from celery import signals  # noqa: E402
from django.conf import settings  # noqa: E402
from prometheus_client import (  # noqa: E402
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    ThreadingWSGIServer,
    _SilentHandler,
)

from streamsite import metrics  # noqa: E402
from streamsite.disk import observe_disk_free  # noqa: E402

logger = logging.getLogger(__name__)

_started: dict[str, float] = {}
_OUTCOMES = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry"}
_role = {"name": ""}


@signals.task_prerun.connect
def _task_started(task_id: str, **kwargs: Any) -> None:
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_finished(task_id: str, task: Any, state: str | None = None, **kwargs: Any) -> None:
    started = _started.pop(task_id, None)
    name = getattr(task, "name", None) or "unknown"
    metrics.CELERY_TASKS.labels(task=name, outcome=_OUTCOMES.get(state or "", "other")).inc()
    if started is not None:
        metrics.CELERY_TASK_SECONDS.labels(task=name).observe(time.perf_counter() - started)


@signals.before_task_publish.connect
def _task_sent(sender: str | None = None, **kwargs: Any) -> None:
    if _role["name"] == "beat":
        metrics.BEAT_SENDS.labels(task=sender or "unknown").inc()


@signals.worker_init.connect
def _worker_started(**kwargs: Any) -> None:
    _forget_previous_runs()
    serve("worker")


@signals.beat_init.connect
def _beat_started(**kwargs: Any) -> None:
    _forget_previous_runs()
    serve("beat")


@signals.worker_process_shutdown.connect
def _child_stopped(pid: int | None = None, **kwargs: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid or os.getpid())


def _forget_previous_runs() -> None:
    """Files of an earlier run would be added to this run's figures (this process's own stay)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    for leftover in Path(directory).glob("*.db"):
        if not leftover.stem.endswith(f"_{os.getpid()}"):
            leftover.unlink(missing_ok=True)


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return collected
    return REGISTRY


def serve(role: str) -> ThreadingWSGIServer | None:
    """Serve this process's metrics in a daemon thread, if METRICS_PORT asks for it."""
    _role["name"] = role
    if not settings.METRICS_PORT:
        return None
    server = make_server(
        settings.METRICS_ADDRESS,
        settings.METRICS_PORT,
        _metrics_app,
        ThreadingWSGIServer,
        handler_class=_SilentHandler,
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    logger.info("%s metrics on http://%s:%s/metrics", role, *server.server_address[:2])
    return server


def _metrics_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if not _may_scrape(environ):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"Metrics are served to the allowed networks, or with the metrics token.\n"]
    observe_disk_free()
    body = generate_latest(registry())
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [body]


def _may_scrape(environ: dict[str, Any]) -> bool:
    token = settings.METRICS_TOKEN
    header = environ.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    try:
        peer = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in network for network in settings.METRICS_ALLOWED_NETWORKS)
