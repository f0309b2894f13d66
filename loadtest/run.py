"""`make loadtest`: the journeys against the live topology, and a report with charts.

    .venv/bin/python -m loadtest.run [--users 120] [--spawn-rate 4] [--time 180]
                                     [--capacity] [--host https://…] [--output loadtest-report]

Without ``--host`` it starts deploy/docker-compose.yml on this machine as tests/topology does
(nginx, the web, api, progress and admin pools, Redis, a Celery worker and beat) on a database
of its own with the demo catalog, plus a Prometheus of its own, warms the caches, runs locust
headless for a bounded time, and stops everything it started. ``--capacity`` runs the step-load
search of loadtest/capacity.py instead of the mixed journeys. The site runs on ``--site-cpus``,
locust and Prometheus on ``--locust-cpus`` (taskset), so the load generator does not eat the
site's CPU unseen; the summary says how the cores were shared.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import ROOT, bench_env, fresh_database
from loadtest import prometheus, providers, report
from loadtest.catalog import read_catalog
from loadtest.processes import serve as serve_process_figures
from loadtest.topology import CLIENT_NETWORK, LoadTopology, seed
from tests.deploy.edge import free_port

DATABASE_URL = os.environ.get(
    "LOADTEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/streamsite_loadtest"
)
HOST_HEADER = "localhost"  # the site's name in the topology (DOMAIN)


def say(message: str) -> None:
    print(f"[loadtest {time.strftime('%H:%M:%S')}] {message}", flush=True)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host", default="", help="a running site to load (else the topology is started here)"
    )
    parser.add_argument(
        "--users", type=int, default=120, help="simulated clients at once (mixed run)"
    )
    parser.add_argument(
        "--spawn-rate", type=float, default=1, help="new clients a second (each viewer signs up)"
    )
    parser.add_argument("--time", type=int, default=180, help="seconds of load (mixed run)")
    parser.add_argument(
        "--mix", default="", help="journey shares, e.g. browser=55,viewer=30,… (LOADTEST_MIX)"
    )
    parser.add_argument(
        "--capacity",
        action="store_true",
        help="step-load search for the capacity in watching viewers",
    )
    parser.add_argument("--step-users", type=int, default=25, help="viewers added each step")
    parser.add_argument("--step-seconds", type=int, default=60, help="length of a step")
    parser.add_argument("--max-users", type=int, default=1500, help="the search stops here")
    parser.add_argument(
        "--threshold-ms", type=float, default=250, help="p99 any journey step must stay within"
    )
    parser.add_argument(
        "--max-error-rate", type=float, default=0.001, help="legitimate clients' errors allowed"
    )
    parser.add_argument(
        "--site-cpus", default="", help="cores the site runs on (taskset list; empty: every core)"
    )
    parser.add_argument("--locust-cpus", default="1", help="cores locust and Prometheus run on")
    parser.add_argument(
        "--api-keys", type=int, default=60, help="API keys made for the API journeys"
    )
    parser.add_argument(
        "--locust-args", default="", help="more locust options, e.g. '--heartbeat-seconds 5'"
    )
    parser.add_argument("--output", default="loadtest-report", help="where the report goes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    output = Path(args.output)
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    with (
        tempfile.TemporaryDirectory(prefix="streamsite-loadtest-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        if args.host:
            keys = output / "api-keys.txt"
            keys.write_text(os.environ.get("LOADTEST_API_KEYS", "").replace(",", "\n"))
            return load(
                args,
                output,
                Path(scratch),
                host=args.host,
                host_header="",
                client_network="",
                keys=keys,
                topology=None,
            )
        say(
            f"database {DATABASE_URL.rsplit('/', 1)[-1]}: migrate, demo catalog, "
            f"{args.api_keys} API keys"
        )
        fresh_database(DATABASE_URL)
        providers_url = stack.enter_context(providers.running())
        keys = output / "api-keys.txt"
        made = seed(DATABASE_URL, api_keys=args.api_keys, providers_url=providers_url)
        keys.write_text("\n".join(made) + "\n")
        if args.site_cpus:
            os.sched_setaffinity(0, {int(c) for c in args.site_cpus.split(",")})
        say(f"starting the topology on cores {args.site_cpus or 'all'} (about a minute)")
        started = time.monotonic()
        with LoadTopology(
            directory=Path(scratch) / "topology", database_url=DATABASE_URL
        ) as topology:
            assert topology.edge is not None
            say(
                f"topology up in {time.monotonic() - started:.0f} s: nginx at {topology.edge.https}"
            )
            return load(
                args,
                output,
                Path(scratch),
                host=topology.edge.https,
                host_header=HOST_HEADER,
                client_network=CLIENT_NETWORK,
                keys=keys,
                topology=topology,
            )


def load(
    args: argparse.Namespace,
    output: Path,
    scratch: Path,
    *,
    host: str,
    host_header: str,
    client_network: str,
    keys: Path,
    topology: LoadTopology | None,
) -> int:
    roots = lambda: process_roots(topology, runner_children)  # noqa: E731
    runner_children: dict[str, int] = {}
    exporter_port = free_port()
    serve_process_figures(
        roots, exporter_port, database=DATABASE_URL.rsplit("/", 1)[-1] if topology else ""
    )
    jobs = scrape_jobs(topology, exporter_port)
    with prometheus.running(scratch / "prometheus", jobs, cpus=args.locust_cpus) as prom:
        runner_children["prometheus"] = prometheus_pid(scratch / "prometheus")
        warm(host, host_header)
        load_before = os.getloadavg()
        counted = counters(topology)
        began = time.time()
        code = run_locust(
            args,
            output,
            host=host,
            host_header=host_header,
            client_network=client_network,
            keys=keys,
            children=runner_children,
        )
        ended = time.time()
        load_after = os.getloadavg()
        counted = {k: v - counted[k] for k, v in counters(topology).items()}
        time.sleep(prometheus.SCRAPE_SECONDS * 2)  # the last scrape of the run
        say("reading the run's figures from Prometheus")
        series = report.collect(prom, began, ended)
    (output / "prometheus.json").write_text(json.dumps(series))
    cores = {
        "site": args.site_cpus or "all" if topology else "(remote)",
        "locust": args.locust_cpus or "all",
        "machine": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_after,
        "postgresql": "the machine's server, on any core (shared with whatever else uses it)",
    }
    run = {"cores": cores, "args": vars(args), "began": began, "ended": ended, "counters": counted}
    (output / "run.json").write_text(json.dumps(run))
    summary = report.build(output, series=series, **run)
    say(f"report: {summary}")
    return code


def counters(topology: LoadTopology | None) -> dict[str, float]:
    """What Redis and this run's PostgreSQL database have done so far: commands, and
    transactions and rows written (the model of docs/performance.md sizes both from them)."""
    if topology is None:
        return {}
    import psycopg
    import redis

    port = topology.services["redis"].port
    stats = redis.Redis(host="127.0.0.1", port=port).info("stats")
    with psycopg.connect(DATABASE_URL) as connection:
        row = connection.execute(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted, tup_returned, blks_read "
            "FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return {
        "redis_commands": float(stats["total_commands_processed"]),
        "pg_transactions": float(row[0]),
        "pg_rows_written": float(row[1]),
        "pg_rows_read": float(row[2]),
        "pg_blocks_read": float(row[3]),
    }


def process_roots(topology: LoadTopology | None, children: dict[str, int]) -> dict[str, int]:
    roots = dict(children)
    if topology is not None:
        for name, service in topology.services.items():
            if service.process is not None and service.process.poll() is None:
                roots[name] = service.process.pid
        if topology.edge is not None:
            roots["nginx"] = topology.edge.process.pid
    return roots


def scrape_jobs(
    topology: LoadTopology | None, exporter_port: int
) -> dict[str, list[tuple[str, dict[str, str]]]]:
    jobs: dict[str, list[tuple[str, dict[str, str]]]] = {
        "loadtest": [(f"127.0.0.1:{exporter_port}", {})]
    }
    if topology is None:
        return jobs
    for name in topology.long_running():
        service = topology.services[name]
        if name == "redis" or service.port is None:
            continue
        job = "celery" if name in {"worker", "beat"} else "streamsite"
        role = service.spec.get("environment", {}).get("SERVICE_ROLE", name)
        jobs.setdefault(job, []).append(
            (f"127.0.0.1:{service.port}", {"instance_name": name, "role": role})
        )
    return jobs


def prometheus_pid(directory: Path) -> int:
    """Prometheus's pid (through taskset, which execs it), found by its storage path."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if str(directory / "data") in (entry / "cmdline").read_text():
                    return int(entry.name)
    return 0


def warm(host: str, host_header: str) -> None:
    """The pages and API lists every journey starts from, once each, from the runner's own
    (allowlisted) address: the catalog cache filled, the instances' imports done."""
    catalog = read_catalog(host, host_header)
    paths = ["/", "/browse/", "/search/?q=the", "/api/genres", "/api/movies", "/accounts/signup/"]
    paths += [f"/browse/?genre={g}" for g in catalog.genres]
    paths += [f"/movies/{m['slug']}/" for m in catalog.movies[:40]]
    say(f"warming: {len(paths)} pages, {len(catalog.movies)} films in the catalog")
    for _ in range(3):  # each page once on most instances of its pool
        for path in paths:
            request = urllib.request.Request(
                host + path, headers={"Host": host_header} if host_header else {}
            )
            with contextlib.suppress(OSError):
                urllib.request.urlopen(request, timeout=30, context=_insecure()).read()


def _insecure():  # type: ignore[no-untyped-def]
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def run_locust(
    args: argparse.Namespace,
    output: Path,
    *,
    host: str,
    host_header: str,
    client_network: str,
    keys: Path,
    children: dict[str, int],
) -> int:
    locustfile = "loadtest/capacity.py" if args.capacity else "loadtest/locustfile.py"
    env = {
        **bench_env(),
        "LOADTEST_SAMPLES": str(output / "samples.csv"),
        "LOADTEST_API_KEYS_FILE": str(keys.resolve()),
        "LOADTEST_CLIENT_NETWORK": client_network,
        "LOADTEST_HOST_HEADER": host_header,
        "LOADTEST_STEPS_FILE": str(output / "steps.jsonl"),
        "LOADTEST_STEP_USERS": str(args.step_users),
        "LOADTEST_STEP_SECONDS": str(args.step_seconds),
        "LOADTEST_MAX_USERS": str(args.max_users),
        "LOADTEST_SPAWN_RATE": str(args.spawn_rate),
        "LOADTEST_THRESHOLD_MS": str(args.threshold_ms),
        "LOADTEST_MAX_ERROR_RATE": str(args.max_error_rate),
        "PYTHONPATH": str(ROOT),
    }
    if args.mix:
        env["LOADTEST_MIX"] = args.mix
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        locustfile,
        "--headless",
        "--host",
        host,
        "--stop-timeout",
        "5",
        "--only-summary",
        "--csv",
        str(output / "locust"),
        "--csv-full-history",
        "--html",
        str(output / "locust.html"),
        "--loglevel",
        "WARNING",
        *args.locust_args.split(),
    ]
    if not args.capacity:  # the step-load shape sets users and rate, and stops at --max-users
        command += ["--users", str(args.users), "--spawn-rate", str(args.spawn_rate)]
        command += ["--run-time", f"{args.time}s"]
    if args.locust_cpus:
        command = ["taskset", "-c", args.locust_cpus, *command]
    what = "step-load search" if args.capacity else f"{args.users} clients for {args.time} s"
    say(f"locust: {what} against {host} (cores {args.locust_cpus or 'all'})")
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    children["locust"] = process.pid
    try:
        while process.poll() is None:
            time.sleep(10)
            progress(output)
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
    process.wait()
    if not (output / "samples.csv").exists():
        raise SystemExit("locust made no request: see its output above")
    return process.returncode


def progress(output: Path) -> None:
    """One line from locust's history CSV: users, requests a second, failures, p99."""
    history = output / "locust_stats_history.csv"
    if not history.exists():
        return
    with history.open() as file:
        rows = [r for r in csv.DictReader(file) if r["Name"] == "Aggregated"]
    if rows:
        last = rows[-1]
        say(
            f"{last['User Count']} users, {float(last['Requests/s']):.1f} req/s, "
            f"{float(last['Failures/s']):.2f} failures/s, p99 {last['99%']} ms, "
            f"{last['Total Request Count']} requests, load {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
