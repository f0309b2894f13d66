"""Every request of a locust run, one CSV row each (loadtest/analysis.py reads them back).

Locust's own CSV gives percentiles since the start; a step-load search and the charts need
them per window, so each request is kept: when, which journey and step, how long, the status,
whether the journey counted it as failed, and whether nginx's micro-cache answered it.
"""

from __future__ import annotations

import csv
import threading
import time
from typing import Any

from loadtest.analysis import FIELDS, Sample

_lock = threading.Lock()
# The run's samples, kept in memory too: the step-load shape judges each step from them.
samples: list[Sample] = []


def attach(environment: Any, path: str) -> None:
    file = open(path, "w", newline="")  # noqa: SIM115 (open for the whole run)
    writer = csv.writer(file)
    writer.writerow(FIELDS)

    def on_request(
        request_type: str,
        name: str,
        response_time: float,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: Exception | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        status = getattr(response, "status_code", 0) or 0
        headers = getattr(response, "headers", None) or {}
        sample = Sample(
            time=start_time or time.time(),
            journey=(context or {}).get("journey", ""),
            client=(context or {}).get("client", ""),
            name=name,
            method=request_type,
            ms=round(response_time, 1),
            status=int(status),
            failed=exception is not None,
            edge_cache=headers.get("X-Edge-Cache", ""),
        )
        with _lock:
            samples.append(sample)
            writer.writerow(
                (
                    f"{sample.time:.3f}",
                    sample.journey,
                    sample.client,
                    sample.name,
                    sample.method,
                    sample.ms,
                    sample.status,
                    int(sample.failed),
                    sample.edge_cache,
                )
            )

    def on_quit(**_: Any) -> None:
        with _lock:
            file.close()

    environment.events.request.add_listener(on_request)
    environment.events.quitting.add_listener(on_quit)


def window(start: float, end: float) -> list[Sample]:
    with _lock:
        return [s for s in samples if start <= s.time < end]
