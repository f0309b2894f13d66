"""Figures from the recorded requests: percentiles, error rates, the verdict on a load step.

Pure Python on rows of the samples file (loadtest/recorder.py), used by the step-load shape
while locust runs and by the report after it.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Journeys whose refusals are the point: the shield's answers to them are not errors.
ABUSIVE = frozenset({"scanner", "flooder"})
FIELDS = ("time", "journey", "client", "name", "method", "ms", "status", "failed", "edge_cache")


@dataclass(frozen=True)
class Sample:
    time: float  # when the request started, seconds since the epoch
    journey: str
    client: str  # the client's address (each simulated client has its own)
    name: str
    method: str
    ms: float
    status: int  # 0: no answer (connection refused, reset, timed out)
    failed: bool  # as the journey judged it (a 429 is expected above an API key's limit)
    edge_cache: str  # nginx's X-Edge-Cache: HIT, MISS, EXPIRED, UPDATING, BYPASS or empty

    @property
    def step(self) -> str:
        return f"{self.method} {self.name}"

    @property
    def server_error(self) -> bool:
        return self.status == 0 or self.status >= 500


def read_samples(path: Path) -> list[Sample]:
    with path.open() as file:
        return [
            Sample(
                float(r["time"]),
                r["journey"],
                r["client"],
                r["name"],
                r["method"],
                float(r["ms"]),
                int(r["status"]),
                r["failed"] == "1",
                r["edge_cache"],
            )
            for r in csv.DictReader(file)
        ]


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value at or above ``share`` of them (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True)
class StepFigures:
    step: str
    journey: str
    requests: int
    failures: int
    p50: float
    p95: float
    p99: float


def by_step(samples: Iterable[Sample]) -> list[StepFigures]:
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[(sample.journey, sample.step)].append(sample)
    figures = []
    for (journey, step), group in sorted(groups.items()):
        times = [s.ms for s in group]
        figures.append(
            StepFigures(
                step,
                journey,
                len(group),
                sum(s.failed for s in group),
                percentile(times, 0.50),
                percentile(times, 0.95),
                percentile(times, 0.99),
            )
        )
    return figures


def legitimate(samples: Iterable[Sample]) -> list[Sample]:
    return [s for s in samples if s.journey not in ABUSIVE]


def error_rate(samples: Sequence[Sample]) -> float:
    return sum(s.failed for s in samples) / len(samples) if samples else 0.0


@dataclass(frozen=True)
class Verdict:
    passed: bool
    requests: int
    error_rate: float
    worst_step: str
    worst_p99: float


def judge(samples: Sequence[Sample], *, threshold_ms: float, max_error_rate: float) -> Verdict:
    """Whether a load step held: p99 of every journey step within ``threshold_ms`` and the
    legitimate clients' errors within ``max_error_rate``."""
    mine = legitimate(samples)
    figures = by_step(mine)
    worst = max(figures, key=lambda f: f.p99, default=None)
    rate = error_rate(mine)
    worst_p99 = worst.p99 if worst else 0.0
    return Verdict(
        passed=bool(mine) and worst_p99 <= threshold_ms and rate <= max_error_rate,
        requests=len(mine),
        error_rate=rate,
        worst_step=f"{worst.journey}: {worst.step}" if worst else "",
        worst_p99=worst_p99,
    )
