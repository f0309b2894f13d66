"""What rate limiting and DDoS protection cost: API throughput with the shield on vs off.

    .venv/bin/python bench/shield.py [--seconds 3] [--connections 8] [--rounds 9] [--keys 50]
                                     [--addresses 1] [--threads 1]

Two gunicorn servers (2 sync workers each, like the other benchmarks; --threads 4 for the
gthread workers deploy/ ships) run side by side on loopback, identical except for
SHIELD_ENABLED, against the demo catalog in PostgreSQL and a private redis-server (cache, rate
limits, detection counters). The load is what a public API sees: --keys API clients, each
request from the next one in turn, under the shipped limit of the api tier (1,200 a minute per
key), which none of them reaches. So every request pays the full price (block check and request
count, API key tier lookup, the sliding-window hit and its window stats) and none is refused.
By default all requests come from one address, so the DDoS request threshold is raised out of
its way, and detection reports that address's requests to Redis in batches. --addresses N spreads
them over N client addresses, as nginx reports them in X-Forwarded-For (the servers trust
loopback as their proxy): with many clients each sending a few requests a second, most requests
are the first from their address in this process within SHIELD_CHECK_SECONDS, so detection makes
a round trip of its own for them.
--keys 1 is a single client allowed a limit it cannot reach: its window then holds every
request of the last minute (tens of thousands), the worst case of the moving window.

Each round runs on and off back to back (order alternating) and the median of those paired
ratios is the result, so background load on the machine skews it as little as possible; the
bare JsonResponse view is the baseline of the table.

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
CREATE_KEYS = (
    "from django.contrib.auth import get_user_model; "
    "from accounts.services import create_api_key; "
    "user = get_user_model().objects.create_user('bench-client'); "
    "[print(create_api_key(user=user, name=f'benchmark {n}').raw_key) for n in range(COUNT)]"
)
# Each request carries the next client's key, and comes from the next client address when there
# are several (wrk -s; its arguments are the keys file and the number of addresses).
ROTATE_CLIENTS = """
local keys = {}
local next_key, addresses, next_address = 0, 1, 0
function init(args)
  for line in io.lines(args[1]) do keys[#keys + 1] = "Api-Key " .. line end
  addresses = tonumber(args[2])
end
function request()
  next_key = next_key % #keys + 1
  local headers = {["Authorization"] = keys[next_key]}
  if addresses > 1 then
    next_address = next_address % addresses + 1
    headers["X-Forwarded-For"] = string.format("10.%d.%d.%d",
      math.floor(next_address / 65536) % 256, math.floor(next_address / 256) % 256,
      next_address % 256)
  end
  return wrk.format(nil, nil, headers)
end
"""


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
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--keys", type=int, default=50, help="API clients taking turns")
    parser.add_argument(
        "--addresses", type=int, default=1, help="client addresses taking turns (at most 2^24)"
    )
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    args = parser.parse_args()
    if not 1 <= args.addresses <= 2**24:
        parser.error("--addresses must be between 1 and 16777216")

    print("Preparing a fresh PostgreSQL database with the demo catalog…", flush=True)
    fresh_database(DATABASE_URL)
    with private_redis() as redis_url, tempfile.TemporaryDirectory() as tmp:
        common = {
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "true",
            # One address may send everything: measured is the cost of counting, not a block.
            "SHIELD_REQUEST_RATE": "100000000/10 seconds",
            # wrk stands where nginx would: it reports the client address in X-Forwarded-For.
            "TRUSTED_PROXIES": "127.0.0.1/32",
        }
        if args.keys == 1:  # one client: a limit it cannot reach (see the docstring)
            common["RATELIMIT_API"] = "100000000/minute"
        pidfiles = {state: Path(tempfile.mkdtemp()) / "gunicorn.pid" for state in ("on", "off")}
        env_on = bench_env(
            **common, SHIELD_ENABLED="true", GUNICORN_CMD_ARGS=f"--pid {pidfiles['on']}"
        )
        env_off = bench_env(
            **common, SHIELD_ENABLED="false", GUNICORN_CMD_ARGS=f"--pid {pidfiles['off']}"
        )
        manage("load_demo", "--verbosity", "0", env=env_on)
        keys_file, script = Path(tmp) / "keys.txt", Path(tmp) / "rotate.lua"
        output = manage("shell", "-c", CREATE_KEYS.replace("COUNT", str(args.keys)), env=env_on)
        keys_file.write_text("\n".join(output.split()[-args.keys :]) + "\n")
        script.write_text(ROTATE_CLIENTS)
        clients = {"script": script, "script_args": (str(keys_file), str(args.addresses))}

        with (
            gunicorn(env_on, workers=2, threads=args.threads) as on,
            gunicorn(env_off, workers=2, threads=args.threads) as off,
        ):
            for base in (on, off):  # warm up both: imports, pools, caches, scripts
                for path in (*TARGETS, "/bench/bare"):
                    wrk(base + path, seconds=1, connections=args.connections, **clients)
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
                            **clients,
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
        f"\ngunicorn 2 workers x {args.threads} thread(s) each, wrk {args.connections} "
        f"connections, {args.seconds}s per run, "
        f"median of {args.rounds} rounds, {args.keys} API clients taking turns "
        f"from {args.addresses} address(es)"
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
