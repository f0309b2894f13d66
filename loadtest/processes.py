"""CPU per process from /proc, served for Prometheus to scrape with the run's other figures.

The Python client's multiprocess mode exports no process metrics, and no process exporter is
part of the topology, so the runner serves its own: the CPU seconds of each service's process
tree (the gunicorn master and its workers, celery and its pool, nginx and its workers, Redis,
locust, Prometheus) and of the whole PostgreSQL server (shared with anything else using it).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

TICKS = os.sysconf("SC_CLK_TCK")


def _table() -> tuple[dict[int, int], dict[int, float], dict[int, str]]:
    """Every process: its parent, its CPU seconds (user and system), its command line."""
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        pid = int(entry.name)
        name, rest = (
            stat[stat.index("(") + 1 : stat.rindex(")")],
            stat[stat.rindex(")") + 2 :].split(),
        )
        parents[pid] = int(rest[1])
        seconds[pid] = (int(rest[11]) + int(rest[12])) / TICKS
        names[pid] = command or name
    return parents, seconds, names


def tree_seconds(roots: dict[str, int], database: str = "") -> dict[str, float]:
    """CPU seconds of each named process and all its descendants alive now, and of the
    PostgreSQL backends serving ``database`` (their process title names it) as
    ``postgresql``: the server is shared, its other backends are someone else's."""
    parents, seconds, names = _table()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, parent in parents.items():
        children[parent].append(pid)

    def tree(pid: int) -> Iterator[int]:
        yield pid
        for child in children.get(pid, ()):
            yield from tree(child)

    figures = {name: sum(seconds.get(p, 0.0) for p in tree(pid)) for name, pid in roots.items()}
    if database:
        figures["postgresql"] = sum(
            s
            for p, s in seconds.items()
            if names[p].startswith("postgres:") and f" postgres {database} " in names[p]
        )
    return figures


class ProcessCollector:
    def __init__(self, roots: Callable[[], dict[str, int]], database: str) -> None:
        self.roots = roots
        self.database = database

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "loadtest_process_cpu_seconds",
            "CPU seconds (user and system) of each process tree of the run.",
            labels=["process"],
        )
        for name, value in sorted(tree_seconds(self.roots(), self.database).items()):
            family.add_metric([name], value)
        yield family
        # Others share this machine: the load average says how much.
        load = GaugeMetricFamily("loadtest_load_average", "The host's 1-minute load average.")
        load.add_metric([], os.getloadavg()[0])
        yield load

    def describe(self) -> list[Metric]:
        return []


def serve(roots: Callable[[], dict[str, int]], port: int, *, database: str = "") -> None:
    """Serve the figures on 127.0.0.1:``port`` from a thread, for as long as the runner lives."""
    registry = CollectorRegistry()
    registry.register(ProcessCollector(roots, database))
    start_http_server(port, addr="127.0.0.1", registry=registry)
