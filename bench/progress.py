"""Watch-progress heartbeats through gunicorn: the Redis buffer against a bare view and against
writing every heartbeat to the database, then a zero-loss run with a worker killed mid-flush.

    .venv/bin/python bench/progress.py [--seconds 5] [--connections 16] [--rounds 3]

Setup: a fresh PostgreSQL database with the demo catalog, a private redis-server, 1,000 viewers
signed in, every viewer watching one film. Heartbeats carry what the player in a browser sends:
the watch page's playback token, the session cookie and the CSRF token. Two gunicorn servers (2
sync workers each) run side by side, identical except for PROGRESS_BUFFER_ENABLED; the shield
is off in both (its cost is bench/shield.py's subject). wrk posts heartbeats (a fresh client
timestamp each, so none is refused as stale) while this process flushes the buffer every
--flush-seconds, as the beat task would, and records rows written per flush. A third series
sends no token to the buffered server, so the session cookie authenticates (as once a token
has expired). A fourth posts the same heartbeats to a view of the same authentication and
parsing that stores and checks nothing (BENCH_ENDPOINTS): the floor of any heartbeat through
the API's one path. Each round runs the bare view, then the four series, each first in turn.

Zero loss: 50,000 heartbeats (1,000 viewers x 2 films x 25 positions, sent in shuffled order
so many arrive after newer ones) go through the buffered server from 16 client threads while a
Celery worker flushes every second on the beat schedule. A third of the way in, this process
locks one row that the next flush must write, waits until the worker's bulk upsert is blocked
on it (inside the batch's transaction, with its entries claimed), SIGKILLs the worker, releases
the lock and starts another worker. At the end the database must hold, for every viewer and
film, exactly the heartbeat with the newest client timestamp: the mismatch count is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_DATABASE_URL,
    PYTHON,
    ROOT,
    WrkResult,
    bench_env,
    fresh_database,
    gunicorn,
    manage,
    parse_wrk,
    private_redis,
    report,
)

DATABASE_URL = BENCH_DATABASE_URL + "_progress"
VIEWERS = 1000
ZERO_LOSS_FILMS = 2
ZERO_LOSS_STEPS = 25  # 1,000 x 2 x 25 = 50,000 heartbeats
WRK_THREADS = 2

# Heartbeats for the throughput runs: viewer i watches film i mod N; every request carries a new
# client timestamp (base + a per-thread counter) so the buffer applies each one.
LOAD_SCRIPT = r"""
local viewers = {}
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  for line in io.lines(args[1]) do
    local session, movie, token = line:match("^(%S+)\t(%S+)\t(%S+)$")
    viewers[#viewers + 1] = {cookie = "sessionid=" .. session .. "; csrftoken=" .. args[4],
                             movie = movie, token = args[5] == "token" and token or ""}
  end
  base = tonumber(args[2])
  step = tonumber(args[3])
  csrf = args[4]
  path = args[6]
  counter = 0
end
function request()
  counter = counter + 1
  local n = counter * step + id
  local viewer = viewers[(n % #viewers) + 1]
  local body = string.format(
    '{"position": %d, "duration": 7200, "event": "heartbeat", "client_ts": %d}',
    30 + (counter % 700) * 10, base + n)
  return wrk.format("POST", path .. viewer.movie,
    {["Cookie"] = viewer.cookie, ["X-CSRFToken"] = csrf, ["X-Progress-Token"] = viewer.token,
     ["Content-Type"] = "application/json"},
    body)
end
"""

HEARTBEATS = "/api/streaming/progress/"
# The heartbeat view's authentication, parsing and answer alone (BENCH_ENDPOINTS): the floor.
FLOOR = "/api/bench/heartbeat/"
# Each heartbeat series: the server it goes to, how the heartbeats authenticate ("token": what
# the player sends, playback token beside the cookie; "cookie": the session cookie alone), and
# where they are posted.
SERIES = {
    "buffered": ("buffered", "token", HEARTBEATS),
    "direct": ("direct", "token", HEARTBEATS),
    "cookie": ("buffered", "cookie", HEARTBEATS),
    "floor": ("buffered", "token", FLOOR),
}

# Django accepts any 32-character alphanumeric token as long as cookie and header agree.
CSRF_TOKEN = "progressbenchcsrftoken0123456789"  # noqa: S105 - a test token


def run_wrk(url: str, script: Path, *script_args: str, seconds: int, connections: int) -> str:
    command = [
        "wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency",
        "-s", str(script), url, "--", *script_args,
    ]  # fmt: skip
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def total_requests(output: str) -> int:
    match = re.search(r"(\d+) requests in", output)
    return int(match.group(1)) if match else 0


def bare(base: str, seconds: int, connections: int) -> WrkResult:
    command = [
        "wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency",
        base + "/bench/bare",
    ]  # fmt: skip
    return parse_wrk(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


# --- Setup in this process (Django configured for the benchmark database) ------------------


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamsite.settings")
    import django

    django.setup()


def create_viewers() -> list[tuple[int, str]]:
    """VIEWERS users, each signed in: [(user id, session key)]."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )

    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        user_model(username=f"viewer{n:04d}") for n in range(VIEWERS)
    )
    store = import_module(settings.SESSION_ENGINE).SessionStore
    viewers = []
    for user in users:
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        viewers.append((user.pk, session.session_key))
    return viewers


def write_viewers(path: Path, viewers: list[tuple[int, str]], movie_ids: list[int]) -> None:
    """One line per viewer for the wrk script: session key, film, playback token."""
    from progress.services import playback_token

    lines = []
    for index, (user_id, session) in enumerate(viewers):
        movie_id = movie_ids[index % len(movie_ids)]
        token = playback_token(user_id=user_id, movie_id=movie_id)
        lines.append(f"{session}\t{movie_id}\t{token}\n")
    path.write_text("".join(lines))


def published_movie_ids() -> list[int]:
    from catalog.models import Movie

    return list(Movie.objects.published().order_by("pk").values_list("pk", flat=True))


@dataclass
class Flusher:
    """Flushes the buffer every ``interval`` seconds in a thread, as the beat task would."""

    interval: float
    results: list[Any] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Flusher:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from django.db import close_old_connections

        from progress import services

        while not self._stop.wait(self.interval):
            result = services.flush_buffer()
            if result.entries:
                self.results.append(result)
            close_old_connections()


# --- Zero loss --------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def collect(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=30)
        if self.popen.poll() is None:
            self.popen.kill()


def start_celery(name: str, env: dict[str, str], *args: str) -> Process:
    command = [PYTHON, "-m", "celery", "-A", "streamsite", *args, "--loglevel=INFO"]
    popen = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    process = Process(name, popen)
    threading.Thread(target=process.collect, daemon=True).start()
    return process


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


@dataclass(frozen=True)
class Beat:
    session: str
    token: str
    movie_id: int
    body: bytes


def zero_loss_heartbeats(
    viewers: list[tuple[int, str]], movie_ids: list[int], now_ms: int
) -> tuple[list[Beat], dict[tuple[int, int], tuple[float, int]]]:
    """The heartbeats, shuffled, and the expected final (position, client ms) per pair."""
    from progress.services import playback_token

    rng = random.Random(5)  # noqa: S311 - reproducible shuffling, not security
    beats, expected = [], {}
    base = now_ms - 20 * 60 * 1000
    for index, (user_id, session) in enumerate(viewers):
        for film in range(ZERO_LOSS_FILMS):
            movie_id = movie_ids[(index + film * 37) % len(movie_ids)]
            token = playback_token(user_id=user_id, movie_id=movie_id)
            for step in range(ZERO_LOSS_STEPS):
                position = 60.0 + step * 10 + index % 7
                client_ms = base + step * 10_000 + index
                body = {"position": position, "duration": 7200, "client_ts": client_ms}
                beats.append(Beat(session, token, movie_id, json.dumps(body).encode()))
                expected[(user_id, movie_id)] = (position, client_ms)  # the last step wins
    rng.shuffle(beats)
    return beats, expected


@dataclass
class Sender:
    """Posts heartbeats from client threads; a request that fails is retried, as the player's
    offline queue would, and counted."""

    port: int
    statuses: dict[int, int] = field(default_factory=dict)
    retries: int = 0
    sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, beat: Beat) -> None:
        headers = {
            "Cookie": f"sessionid={beat.session}; csrftoken={CSRF_TOKEN}",
            "X-CSRFToken": CSRF_TOKEN,
            "X-Progress-Token": beat.token,
            "Content-Type": "application/json",
        }
        for _attempt in range(5):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST", f"/api/streaming/progress/{beat.movie_id}", beat.body, headers)
                status = conn.getresponse().status
                conn.close()
            except OSError:
                with self._lock:
                    self.retries += 1
                continue
            with self._lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self.sent += 1
            return
        raise RuntimeError("a heartbeat failed five times")

    def send_all(self, beats: list[Beat], threads: int = 16) -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(self.post, beats))


def mismatches(expected: dict[tuple[int, int], tuple[float, int]]) -> int:
    """Pairs whose row is missing or differs from the last heartbeat (the first few printed)."""
    from django_redis import get_redis_connection

    from progress import buffer
    from progress.models import WatchProgress

    stored = {
        (row.user_id, row.movie_id): (row.position, buffer.to_ms(row.client_ts))
        for row in WatchProgress.objects.only("user_id", "movie_id", "position", "client_ts")
    }
    wrong = [pair for pair, want in expected.items() if stored.get(pair) != want]
    redis = get_redis_connection("default")
    for user_id, movie_id in wrong[:5]:
        entry = redis.hgetall(f"{buffer.ENTRY_PREFIX}{user_id}:{movie_id}")
        print(f"  mismatch {(user_id, movie_id)}: want {expected[(user_id, movie_id)]}, "
              f"database {stored.get((user_id, movie_id))}, redis {entry}")  # fmt: skip
    return len(wrong) + len(set(stored) - set(expected))


def blocked_upserts() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO \"progress_watchprogress\"%%'"
        )
        return cursor.fetchone()[0]


@contextlib.contextmanager
def lock_a_pending_row() -> Iterator[int]:
    """Lock, from another connection, a stored row whose entry is waiting in the buffer: the
    next flush's bulk upsert must wait for it. Yields the number of entries pending."""
    from django.db import connection
    from django_redis import get_redis_connection

    from progress import buffer
    from progress.models import WatchProgress

    redis = get_redis_connection("default")
    while True:
        dirty = [m.decode() for m in redis.srandmember(buffer.DIRTY_KEY, 200)]
        pairs = [tuple(int(x) for x in m.split(":")) for m in dirty]
        stored = WatchProgress.objects.filter(
            user_id__in=[u for u, _ in pairs], movie_id__in=[m for _, m in pairs]
        ).values_list("user_id", "movie_id")
        target = next((pair for pair in stored if pair in set(pairs)), None)
        if target:
            break
        time.sleep(0.05)
    db = connection.settings_dict
    locker = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"])
    try:
        locker.execute(
            "SELECT 1 FROM progress_watchprogress WHERE user_id = %s AND movie_id = %s FOR UPDATE",
            list(target),
        )
        yield buffer.pending_count()
    finally:
        locker.rollback()
        locker.close()


def run_zero_loss(
    port: int, env: dict[str, str], viewers: list[tuple[int, str]], movie_ids: list[int],
    workdir: Path,
) -> None:  # fmt: skip
    from django.db import connection
    from django_redis import get_redis_connection

    from progress import buffer
    from progress.models import WatchProgress

    # A clean slate: the throughput runs left newer entries for some of the same pairs.
    WatchProgress.objects.all().delete()
    get_redis_connection("default").flushdb()
    beats, expected = zero_loss_heartbeats(viewers, movie_ids, int(time.time() * 1000))
    worker_env = {
        **env,
        "PROGRESS_FLUSH_SECONDS": "1",
        "PROGRESS_FLUSH_BATCH_SIZE": "250",
        "PROGRESS_FLUSH_LEASE_SECONDS": "3",
    }
    options = ("--without-gossip", "--without-mingle", "--without-heartbeat", "--pool=solo")
    victim = start_celery("victim", worker_env, "worker", *options, "--hostname", "victim@%h")
    beat = start_celery("beat", worker_env, "beat", "--schedule", str(workdir / "schedule"))
    processes = [victim, beat]
    sender = Sender(port)
    try:
        wait_for(lambda: any(" ready." in line for line in victim.lines), 60, "the worker")
        started = time.monotonic()
        sending = threading.Thread(target=sender.send_all, args=(beats,))
        sending.start()
        wait_for(lambda: sender.sent >= len(beats) // 3, 300, "a third of the heartbeats")
        with lock_a_pending_row():
            wait_for(lambda: blocked_upserts() > 0, 60, "the flush to reach the locked row")
            claimed = get_redis_connection("default").zcard(buffer.PROCESSING_KEY)
            sent_at_kill = sender.sent
            victim.popen.send_signal(signal.SIGKILL)
            victim.popen.wait(timeout=30)
        survivor = start_celery("survivor", worker_env, "worker", *options, "--hostname", "s@%h")
        processes.append(survivor)
        sending.join()
        elapsed = time.monotonic() - started
        wait_for(lambda: buffer.pending_count() == 0, 120, "the buffer to drain")
        connection.close()
        bad = mismatches(expected)
    finally:
        for process in processes:
            process.stop()

    flush_lines = [x for p in processes[::2] for x in p.lines if "progress flush:" in x]
    rows = sum(int(m.group(1)) for x in flush_lines if (m := re.search(r"(\d+) rows written", x)))
    print("\nZero loss: 50,000 heartbeats, 1,000 viewers x 2 films, shuffled (late arrivals)")
    print(
        f"  {sender.sent} heartbeats answered in {elapsed:.1f}s from 16 threads; statuses "
        f"{dict(sorted(sender.statuses.items()))}; connection errors retried: {sender.retries}"
    )
    print(
        f"  worker SIGKILLed after {sent_at_kill} heartbeats, blocked inside its bulk upsert "
        f"with {claimed} entries claimed; a new worker took over after the 3 s lease"
    )
    print(f"  {len(flush_lines)} completed flushes wrote {rows} rows")
    print(f"  (user, film) pairs: {len(expected)}; mismatch count: {bad}")
    if bad or set(sender.statuses) != {202}:
        raise SystemExit("zero-loss run FAILED")


# --- Throughput -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flush-seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--skip-zero-loss", action="store_true")
    args = parser.parse_args()

    print("Preparing a fresh PostgreSQL database with the demo catalog…", flush=True)
    fresh_database(DATABASE_URL)
    with private_redis() as redis_url, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        common = {
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "SHIELD_ENABLED": "false",
        }
        buffered_env = bench_env(**common, PROGRESS_BUFFER_ENABLED="true")
        direct_env = bench_env(**common, PROGRESS_BUFFER_ENABLED="false")
        manage("load_demo", "--verbosity", "0", env=buffered_env)
        setup_django(buffered_env)
        viewers = create_viewers()
        movie_ids = published_movie_ids()
        write_viewers(workdir / "viewers.tsv", viewers, movie_ids)
        load = workdir / "load.lua"
        load.write_text(LOAD_SCRIPT)
        base_ms = str(int(time.time() * 1000) - 60_000)
        load_args = (str(workdir / "viewers.tsv"), base_ms, str(WRK_THREADS), CSRF_TOKEN)

        results: dict[str, list[WrkResult]] = {name: [] for name in ("bare", *SERIES)}
        heartbeats_sent = 0
        with (
            gunicorn(buffered_env, workers=2, threads=args.threads) as buffered,
            gunicorn(direct_env, workers=2, threads=args.threads) as direct,
        ):
            for base in (buffered, direct):  # warm up: imports, pools, scripts, movie checks
                for credential, path in (
                    ("token", HEARTBEATS),
                    ("cookie", HEARTBEATS),
                    ("token", FLOOR),
                ):
                    run_wrk(
                        base, load, *load_args, credential, path,
                        seconds=1, connections=args.connections,
                    )  # fmt: skip
            with Flusher(args.flush_seconds) as flusher:
                for round_number in range(args.rounds):
                    results["bare"].append(bare(buffered, args.seconds, args.connections))
                    servers = {"buffered": buffered, "direct": direct}
                    names = list(SERIES)
                    shift = round_number % len(names)  # each series goes first in turn
                    for name in names[shift:] + names[:shift]:
                        server, credential, path = SERIES[name]
                        output = run_wrk(
                            servers[server], load, *load_args, credential, path,
                            seconds=args.seconds, connections=args.connections,
                        )  # fmt: skip
                        results[name].append(parse_wrk(output))
                        if server == "buffered" and path == HEARTBEATS:
                            heartbeats_sent += total_requests(output)
            report_throughput(args, results, flusher.results, heartbeats_sent)
        if args.skip_zero_loss:
            return
        # A server of its own, started after the others finished their last requests.
        with gunicorn(buffered_env, workers=2, threads=args.threads) as server:
            port = int(server.rsplit(":", 1)[1])
            run_zero_loss(port, buffered_env, viewers, movie_ids, workdir)


def report_throughput(
    args: argparse.Namespace,
    results: dict[str, list[WrkResult]],
    flushes: list[Any],
    heartbeats_sent: int,
) -> None:
    median = {
        name: sorted(runs, key=lambda r: r.requests_per_second)[len(runs) // 2]
        for name, runs in results.items()
    }
    print(
        f"\ngunicorn 2 workers each, wrk {args.connections} connections, "
        f"{args.seconds}s per run, median of {args.rounds} rounds, {VIEWERS} viewers"
    )
    report(
        [
            ("bare JsonResponse (/bench/bare)", median["bare"]),
            ("POST heartbeat, Redis buffer", median["buffered"]),
            ("POST heartbeat, direct database write", median["direct"]),
            ("POST heartbeat, Redis buffer, cookie only", median["cookie"]),
            ("POST heartbeat answered unread (the floor)", median["floor"]),
        ],
        baseline=median["bare"],
    )
    rps = {name: r.requests_per_second for name, r in median.items()}
    print(
        f"\nbuffered / bare   = {rps['buffered'] / rps['bare']:.2f}x (goal >= 0.70x)\n"
        f"buffered / direct = {rps['buffered'] / rps['direct']:.2f}x (goal >= 1.50x)\n"
        f"cookie only: {rps['cookie'] / rps['bare']:.2f}x bare, "
        f"{rps['cookie'] / rps['direct']:.2f}x direct\n"
        f"floor (the same view's authentication, parsing and answer, nothing validated or "
        f"stored) / bare = {rps['floor'] / rps['bare']:.2f}x; buffered / floor = "
        f"{rps['buffered'] / rps['floor']:.2f}x"
    )
    rows = sum(f.rows_written for f in flushes)
    per_flush = [f.rows_written for f in flushes]
    print(
        f"flushes every {args.flush_seconds:g}s during the buffered runs: {len(flushes)} "
        f"flushes wrote {rows} rows for {heartbeats_sent} heartbeats received "
        f"({heartbeats_sent / max(rows, 1):.1f} heartbeats per row; rows per flush "
        f"median {statistics.median(per_flush) if per_flush else 0:.0f}, "
        f"max {max(per_flush, default=0)}; longest flush "
        f"{max((f.seconds for f in flushes), default=0.0) * 1000:.0f} ms)"
    )
    if any(r.non_2xx for runs in results.values() for r in runs):
        raise SystemExit("some heartbeats were refused: the numbers are not comparable")


if __name__ == "__main__":
    main()
