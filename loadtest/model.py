"""The capacity model of docs/performance.md, from a capacity run's measured costs.

    .venv/bin/python -m loadtest.model loadtest-report     # the report of a --capacity run

Everything measured comes from that run's summary.json: the CPU one watching viewer costs
each part of the site, the Redis commands and PostgreSQL rows each costs (``costs`` says how
each is taken). The rest are assumptions, named in ``ASSUMPTIONS``
and printed with the table.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ASSUMPTIONS = {
    "utilisation": 0.6,  # cores are sized to run at 60 %: room for a film's release night
    "host_cores": 16,  # application hosts of 16 cores
    "heartbeat_seconds": 10,  # the player's HEARTBEAT_MS
    "flush_seconds": 30,  # PROGRESS_FLUSH_SECONDS: one row per watching viewer per flush
    "flush_batch_rows": 500,  # rows per bulk upsert statement of the flush
    "redis_ops_per_core": 80_000,  # one Redis core, small commands, with headroom
    "stream_mbps": 3.0,  # average bitrate a viewer of our own HLS pulls (the 720p rung)
    "pages_at_cdn": 0.95,  # anonymous pages answered by the CDN (s-maxage, purged on edits)
}
SITE = ("web", "api", "progress", "admin", "worker", "beat", "nginx", "redis", "postgresql")


@dataclass(frozen=True)
class Costs:
    viewers: int  # the capacity found
    cores: dict[str, float]  # by part of the site, per watching viewer
    celery_seconds_per_row: float
    redis_per_viewer_second: float
    pg_rows_per_viewer_second: float

    def per_viewer(self, *parts: str) -> float:
        return sum(v for k, v in self.cores.items() if k in parts)


def costs(summary: dict[str, Any]) -> Costs:
    capacity = summary["capacity"]
    viewers = capacity["viewers"]
    if not viewers:
        raise SystemExit("no step held in this run: nothing to scale from")
    counters, totals = summary["counters"], summary["totals"]
    viewer_seconds = counters.get("viewer_seconds") or viewers * counters.get("seconds", 1.0)
    # The pools, nginx and Redis: their CPU while the last step that held was watching (its
    # second half: no one signing up), per viewer.
    parts: dict[str, float] = {}
    for process, used in capacity["cores_by_process"].items():
        part = process.rsplit("-", 1)[0] if process[-1:].isdigit() else process
        parts[part] = parts.get(part, 0.0) + used / viewers
    # PostgreSQL's backends use too little CPU to show in a window: their CPU over the whole
    # run per viewer-second (sign-ups included: it errs high).
    cpu = totals["cpu_seconds_by_process"]
    parts["postgresql"] = cpu.get("postgresql", 0.0) / viewer_seconds
    # The flush's own time (a worker busy with it, database waits included) per row written.
    rows_flushed = sum(totals["rows_flushed"].values()) or 1.0
    flush_seconds = sum(totals.get("flush_seconds", {}).values())
    return Costs(
        viewers=viewers,
        cores=parts,
        celery_seconds_per_row=flush_seconds / rows_flushed,
        redis_per_viewer_second=counters.get("redis_commands", 0) / viewer_seconds,
        pg_rows_per_viewer_second=counters.get("pg_rows_written", 0) / viewer_seconds,
    )


def rows(measured: Costs, audiences: tuple[int, ...] = (10_000, 100_000, 1_000_000)) -> list[dict]:
    a = ASSUMPTIONS
    table = []
    for viewers in audiences:
        app = viewers * measured.per_viewer("web", "api", "progress", "admin", "nginx")
        workers = viewers / a["flush_seconds"] * measured.celery_seconds_per_row
        database = viewers * measured.per_viewer("postgresql")
        redis_ops = viewers * measured.redis_per_viewer_second
        app_cores = app / a["utilisation"]
        table.append(
            {
                "viewers": viewers,
                "app_cores": app_cores,
                "app_hosts": math.ceil(app_cores / a["host_cores"]),
                "instances": math.ceil(app_cores),  # one gunicorn instance (2 workers) a core
                "celery_cores": workers / a["utilisation"],
                "heartbeats_per_second": viewers / a["heartbeat_seconds"],
                "rows_flushed_per_second": viewers / a["flush_seconds"],
                "flush_statements_per_second": viewers / a["flush_seconds"] / a["flush_batch_rows"],
                "postgres_cores": database / a["utilisation"],
                "redis_ops_per_second": redis_ops,
                "redis_shards": math.ceil(redis_ops / a["redis_ops_per_core"]),
                "cdn_gbps": viewers * a["stream_mbps"] / 1000,
            }
        )
    return table


def markdown(table: list[dict]) -> str:
    lines = [
        "| concurrent viewers | app cores (hosts of 16) | gunicorn instances | Celery cores "
        "| heartbeats/s | rows flushed/s (statements/s) | PostgreSQL cores | Redis ops/s (shards) "
        "| CDN egress (own HLS) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines.extend(
        f"| {r['viewers']:,} | {r['app_cores']:,.0f} ({r['app_hosts']}) | {r['instances']:,} "
        f"| {r['celery_cores']:,.1f} | {r['heartbeats_per_second']:,.0f} "
        f"| {r['rows_flushed_per_second']:,.0f} ({r['flush_statements_per_second']:,.1f}) "
        f"| {r['postgres_cores']:,.1f} | {r['redis_ops_per_second']:,.0f} "
        f"({r['redis_shards']}) | {r['cdn_gbps']:,.0f} Gb/s |"
        for r in table
    )
    return "\n".join(lines)


def main() -> None:
    output = Path(sys.argv[1] if len(sys.argv) > 1 else "loadtest-report")
    measured = costs(json.loads((output / "summary.json").read_text()))
    per_viewer = {k: round(v, 5) for k, v in measured.cores.items()}
    print(f"capacity {measured.viewers} viewers; cores per watching viewer: {per_viewer}")
    print(f"flush: {measured.celery_seconds_per_row * 1000:.2f} ms of a worker per row written")
    print(
        f"per viewer: {measured.redis_per_viewer_second:.3f} Redis commands/s, "
        f"{measured.pg_rows_per_viewer_second:.4f} PostgreSQL rows written/s"
    )
    print(f"assumptions: {ASSUMPTIONS}\n")
    print(markdown(rows(measured)))


if __name__ == "__main__":
    main()
