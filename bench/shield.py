"""What rate limiting and DDoS protection cost: API throughput with the shield on vs off.

    .venv/bin/python bench/shield.py [--seconds 3] [--connections 8] [--rounds 5]

Two gunicorn servers (2 workers each) run side by side on loopback, identical except for
SHIELD_ENABLED, against the demo catalog in PostgreSQL and a private redis-server (cache, rate
limits, detection counters). The client sends an API key whose tier is given a limit it cannot
reach, and the DDoS request threshold is raised out of its way, so every request pays the full
price (block check and request count, API key tier lookup, sliding-window hit and window
stats) without ever being refused. Each round runs on and off back to back (order alternating)
and the median of those paired ratios is the result, so background load on the machine skews
it as little as possible; the bare JsonResponse view is the baseline of the table.

On a busy machine requests per second swing with everybody else's load, so the CPU time the
gunicorn processes spend per request (from /proc, unaffected by waiting for a CPU) is reported
too: off/on of that is the capacity ratio of a CPU-bound server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_DATABASE_URL,
    WrkResult,
    bench_env,
    fresh_database,
    gunicorn,
    manage,
    private_redis,
    report,
    wrk,
)

DATABASE_URL = BENCH_DATABASE_URL + "_shield"
# A typical list endpoint, and the cheapest one (where the shield's share is largest).
TARGETS = ("/api/movies", "/api/genres")
CREATE_KEY = (
    "from django.contrib.auth import get_user_model; "
    "from accounts.services import create_api_key; "
    "user = get_user_model().objects.create_user('bench-client'); "
    "print(create_api_key(user=user, name='benchmark').raw_key)"
)


def cpu_seconds(pidfile: Path) -> float:
    """User + system CPU time of a gunicorn master and its workers so far."""
    master = int(pidfile.read_text())
    total_ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            if pid == master or int(fields[1]) == master:  # fields[1] is the parent pid
                total_ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return total_ticks / os.sysconf("SC_CLK_TCK")


def median(results: list[WrkResult]) -> WrkResult:
    ranked = sorted(results, key=lambda result: result.requests_per_second)
    return ranked[len(ranked) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    print("Preparing a fresh PostgreSQL database with the demo catalog…", flush=True)
    fresh_database(DATABASE_URL)
    with private_redis() as redis_url:
        common = {
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "true",
            # Limits the benchmark cannot reach: measured is the cost, not the refusals.
            "RATELIMIT_API": "100000000/minute",
            "SHIELD_REQUEST_RATE": "100000000/10 seconds",
        }
        pidfiles = {state: Path(tempfile.mkdtemp()) / "gunicorn.pid" for state in ("on", "off")}
        env_on = bench_env(
            **common, SHIELD_ENABLED="true", GUNICORN_CMD_ARGS=f"--pid {pidfiles['on']}"
        )
        env_off = bench_env(
            **common, SHIELD_ENABLED="false", GUNICORN_CMD_ARGS=f"--pid {pidfiles['off']}"
        )
        manage("load_demo", "--verbosity", "0", env=env_on)
        raw_key = manage("shell", "-c", CREATE_KEY, env=env_on).strip().splitlines()[-1]
        headers = {"Authorization": f"Api-Key {raw_key}"}

        with gunicorn(env_on, workers=2) as on, gunicorn(env_off, workers=2) as off:
            for base in (on, off):  # warm up both: imports, pools, caches, scripts
                for path in (*TARGETS, "/bench/bare"):
                    wrk(base + path, seconds=1, connections=args.connections, headers=headers)
            runs: dict[tuple[str, str], list[WrkResult]] = {}
            ratios: dict[str, list[float]] = {path: [] for path in TARGETS}
            cpu: dict[tuple[str, str], list[float]] = {}  # CPU seconds per request
            for round_number in range(args.rounds):
                runs.setdefault(("bare", "off"), []).append(
                    wrk(off + "/bench/bare", seconds=args.seconds, connections=args.connections)
                )
                # Paired runs, back to back, in alternating order: background load shifts
                # both sides of each ratio alike.
                order = [("on", on), ("off", off)][:: 1 if round_number % 2 else -1]
                for path in TARGETS:
                    pair = {}
                    for state, base in order:
                        before = cpu_seconds(pidfiles[state])
                        pair[state] = wrk(
                            base + path,
                            seconds=args.seconds,
                            connections=args.connections,
                            headers=headers,
                        )
                        served = pair[state].requests_per_second * args.seconds
                        cpu.setdefault((path, state), []).append(
                            (cpu_seconds(pidfiles[state]) - before) / served
                        )
                        runs.setdefault((path, state), []).append(pair[state])
                    ratios[path].append(
                        pair["on"].requests_per_second / pair["off"].requests_per_second
                    )

    rows = [("bare JsonResponse (/bench/bare, shield off)", median(runs[("bare", "off")]))]
    rows += [
        (f"GET {path} with API key, shield {state.upper()}", median(runs[(path, state)]))
        for path in TARGETS
        for state in ("off", "on")
    ]
    print(
        f"\ngunicorn 2 workers each, wrk {args.connections} connections, {args.seconds}s per run, "
        f"median of {args.rounds} rounds"
    )
    report(rows, baseline=rows[0][1])
    print()
    for path in TARGETS:
        paired = sorted(ratios[path])
        print(
            f"GET {path}: shield on / off = {statistics.median(paired):.2f}x median of paired "
            f"runs (range {paired[0]:.2f}-{paired[-1]:.2f}; target >= 0.90x)"
        )
        cpu_on = statistics.median(cpu[(path, "on")])
        cpu_off = statistics.median(cpu[(path, "off")])
        print(
            f"    server CPU per request: off {cpu_off * 1e6:.0f} us, on {cpu_on * 1e6:.0f} us "
            f"(+{(cpu_on - cpu_off) * 1e6:.0f} us): capacity on / off = {cpu_off / cpu_on:.2f}x"
        )
    if any(result.non_2xx for results in runs.values() for result in results):
        raise SystemExit("some benchmark requests were refused: the numbers are not comparable")


if __name__ == "__main__":
    main()
