"""Read replicas: catalog reads per second with reads on a streaming replica against the primary
alone, in the same run, and how long reads take to move back to the primary when the replica
stops.

    .venv/bin/python -m bench.replica [--seconds 10] [--connections 8]

Makes its own primary and streaming replica (initdb, pg_basebackup; run through ``runuser -u
postgres`` when run as root) on free ports, seeds a catalog, and serves it with gunicorn twice:
once with ``DATABASE_REPLICA_URLS`` and once without. The load is catalog list pages with a
year, an ordering and a page size picked at random (about 19,000 different pages), so most
requests miss the cache and read the database, which is what the replica is for. The floor is
``/bench/bare`` on the same gunicorn. Both databases share this machine's CPUs with gunicorn and
wrk: what a replica on its own host adds is not measured here, only what routing costs and that
reads really move.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench.common import ROOT, bench_env, free_port, gunicorn, manage, report, wrk

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
LUA = """
math.randomseed(os.time())
local orderings = {"popularity", "rating", "newest", "oldest", "title"}
request = function()
  local path = string.format("/api/movies?year=%d&ordering=%s&page_size=%d",
    math.random(1950, 2025), orderings[math.random(#orderings)], math.random(1, 50))
  return wrk.format("GET", path)
end
"""
SEED = """
import random
from catalog.services import GenreData, MovieData, upsert_movie
import datetime as dt
rng = random.Random(7)
genres = ["Drama", "Comedy", "Thriller", "Documentary", "Animation"]
for n in range(2000):
    upsert_movie(data=MovieData(tmdb_id=700000 + n, title=f"Film {n}",
        release_date=dt.date(rng.randint(1950, 2025), rng.randint(1, 12), 1),
        popularity=rng.random() * 100, vote_average=rng.random() * 10,
        genres=(GenreData(name=rng.choice(genres)),)), publish=True)
"""


def as_postgres(*command: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=300)


@contextlib.contextmanager
def replicated_cluster() -> Iterator[tuple[str, str, Path]]:
    """A primary and a streaming replica; yields their URLs and the replica's data directory."""
    base = Path(tempfile.mkdtemp(prefix="streamsite-bench-replica-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    primary, replica = base / "primary", base / "replica"
    ports = free_port(), free_port()
    as_postgres(str(PG_BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust",
                "--no-sync")  # fmt: skip
    with (primary / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {ports[0]}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = "
            f"'{base}'\nfsync = off\nmax_connections = 200\nhot_standby_feedback = on\n"
        )
    started: list[Path] = []
    try:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(primary), "-l", str(base / "p.log"),
                    "-w", "start")  # fmt: skip
        started.append(primary)
        as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(ports[0]),
                    "-U", "postgres", "streamsite")  # fmt: skip
        as_postgres(str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(ports[0]),
                    "-U", "postgres", "-D", str(replica), "-R", "-X", "stream",
                    "--checkpoint=fast", "--no-sync")  # fmt: skip
        with (replica / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {ports[1]}\n")
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(replica), "-l", str(base / "r.log"),
                    "-w", "start")  # fmt: skip
        started.append(replica)
        yield (
            f"postgres://postgres@127.0.0.1:{ports[0]}/streamsite",
            f"postgres://postgres@127.0.0.1:{ports[1]}/streamsite",
            replica,
        )
    finally:
        for directory in reversed(started):
            with contextlib.suppress(subprocess.CalledProcessError):
                as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(directory), "-m", "immediate",
                            "stop")  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def replica_usable(base: str) -> bool | None:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as answer:  # noqa: S310
        for line in answer.read().decode().splitlines():
            if line.startswith('streamsite_database_replica_usable{alias="replica_1"}'):
                return float(line.rsplit(" ", 1)[1]) == 1.0
    return None


def fallback(base: str, replica: Path) -> None:
    """Stop the replica under a steady stream of reads; how long until the router skips it,
    the slowest read meanwhile, and whether any read failed."""
    answers: list[tuple[float, float, int]] = []  # (started, seconds, status)
    stop = threading.Event()

    def reader(number: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            url = f"{base}/api/movies?page_size={(number * 7 + n) % 50 + 1}&year={1950 + n % 76}"
            try:
                with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310
                    status = answer.status
            except urllib.error.HTTPError as error:
                status = error.code
            answers.append((started, time.monotonic() - started, status))

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    assert replica_usable(base) is True, "the replica was not in use before it stopped"
    stopped_at = time.monotonic()
    as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(replica), "-m", "fast", "-w", "stop")
    stop_returned = time.monotonic()
    while replica_usable(base) is not False:
        time.sleep(0.02)
    skipped_at = time.monotonic()
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join()
    after = [(s, d, c) for s, d, c in answers if s + d >= stopped_at]
    failed = [c for _, _, c in after if c != 200]
    print(
        f"\nreplica stopped (pg_ctl stop -m fast took {stop_returned - stopped_at:.2f} s): "
        f"router skipped it {skipped_at - stop_returned:.2f} s after the stop returned; "
        f"{len(after)} reads since, {len(failed)} failed, slowest "
        f"{max(d for _, d, _ in after) * 1000:.0f} ms, median "
        f"{sorted(d for _, d, _ in after)[len(after) // 2] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    script = Path(tempfile.mkdtemp()) / "catalog.lua"
    script.write_text(LUA)
    with replicated_cluster() as (primary_url, replica_url, replica_dir):
        base_env = bench_env(
            DATABASE_URL=primary_url,
            REDIS_URL="",
            CELERY_TASK_ALWAYS_EAGER="true",
            CACHE_TTL_CATALOG="1",
            SHIELD_ENABLED="false",  # one client at thousands of requests a second: no limits
            STATIC_ROOT=str(Path(tempfile.mkdtemp()) / "static"),
        )
        manage("migrate", "--noinput", env=base_env)
        manage("shell", "-c", SEED, env=base_env)
        rows = []
        baseline = None
        for name, env in (
            ("catalog, primary alone", base_env),
            ("catalog, reads on the replica", {**base_env, "DATABASE_REPLICA_URLS": replica_url}),
        ):
            with gunicorn(env, workers=2, threads=2) as base:
                wrk(f"{base}/api/movies", seconds=2, script=script)  # warm the pools
                if baseline is None:
                    baseline = wrk(f"{base}/bench/bare", seconds=args.seconds)
                    rows.append(("floor: /bench/bare", baseline))
                rows.append(
                    (
                        name,
                        wrk(
                            f"{base}/api/movies",
                            seconds=args.seconds,
                            connections=args.connections,
                            script=script,
                        ),
                    )
                )
                if "DATABASE_REPLICA_URLS" in env:
                    assert replica_usable(base) is True, "the replica was skipped during the run"
                    report(rows, baseline=baseline)
                    fallback(base, replica_dir)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
