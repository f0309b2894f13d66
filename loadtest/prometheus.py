"""The run's own Prometheus: scrapes every instance, the Celery processes and the runner's
process figures every few seconds, and answers the report's range queries afterwards."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.deploy.edge import free_port

# The runner's process figures every 2 s; the instances every 10 s: a scrape of a gunicorn
# instance in multiprocess mode costs it ~0.1 s of CPU (merging its workers' files), which at
# 2 s would take a tenth of a core from each instance.
SCRAPE_SECONDS = 2
INSTANCE_SCRAPE_SECONDS = 10


def interval(job: str) -> int:
    return SCRAPE_SECONDS if job == "loadtest" else INSTANCE_SCRAPE_SECONDS


@contextlib.contextmanager
def running(
    directory: Path, jobs: dict[str, list[tuple[str, dict[str, str]]]], *, cpus: str = ""
) -> Iterator[str]:
    """Prometheus scraping ``jobs`` (job name → [(address, labels)]); yields its base URL."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s"},
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_interval": f"{interval(job)}s",
                "scrape_timeout": f"{interval(job)}s",
                "metrics_path": "/metrics",
                "static_configs": [
                    {"targets": [address], "labels": labels} for address, labels in targets
                ],
            }
            for job, targets in jobs.items()
        ],
    }
    (directory / "prometheus.yml").write_text(json.dumps(config, indent=1))  # JSON is YAML
    port = free_port()
    command = [
        "prometheus",
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    log = (directory / "prometheus.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Prometheus did not start: {(directory / 'prometheus.log').read_text()}"
                )
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def query_range(
    base: str, query: str, start: float, end: float, step: float = SCRAPE_SECONDS
) -> list[dict[str, Any]]:
    """The series of ``query`` from ``start`` to ``end``: [{"metric", "values": [[t, "v"]…]}]."""
    arguments = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{arguments}", timeout=30) as answer:
        return json.load(answer)["data"]["result"]
