"""What the circuit breaker saves: GET /api/streaming/sources/<id> with a hanging primary provider.

    .venv/bin/python bench/sources.py [--seconds 5] [--connections 8] [--rounds 3]

Two provider servers run in this process on loopback: a primary (which can be switched to hang:
it accepts connections and never answers) and a healthy fallback. gunicorn (2 workers) serves
the project from PostgreSQL with Redis (breaker state shared by the workers), shield rate limits
off (this measures sources, not the shield). Scenarios, side by side:

  (a)  cached: every provider healthy, circuits closed. The production configuration:
       breakers on, SOURCES_LIVE_CHECK off, so a request is a cache hit plus one Redis read
       per provider for its circuit state.
  (b)  primary hanging, its circuit opened by the health probe (streaming.services.probe_provider,
       exactly what the beat schedule runs). Same configuration as (a).
  (b') the same with SOURCES_LIVE_CHECK on: the open circuit fails fast without a packet, and
       the fallback's health page is checked live on every request.
  (c)  primary hanging with CIRCUIT_BREAKERS_ENABLED=false and SOURCES_LIVE_CHECK on. Without
       a breaker nothing remembers that the primary is dead, so the only way to avoid handing
       it to viewers is to ask it on every request, and every request waits for its timeout.
  (c0) breakers off and no live check: as fast as (a), but the answer is wrong: the hanging
       primary comes first, and each viewer's player waits WATCH_SOURCE_TIMEOUT in the browser
       before moving on. Shown for the "first source" column.

(b) against (a) is the breaker's promise (within 2x); (c) against (b') is what it saves.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_DATABASE_URL,
    WrkResult,
    bench_env,
    fresh_database,
    gunicorn,
    manage,
    parse_wrk,
)

DATABASE_URL = BENCH_DATABASE_URL.rsplit("/", 1)[0] + "/streamsite_bench_sources"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
PROVIDER_TIMEOUT = 1.0  # seconds: the primary's connect/read timeout in the admin
FAILURE_THRESHOLD = 2
PLAYER_PAGE = b"<!doctype html><html><body><p>player</p></body></html>"


class ProviderServer:
    """A provider on loopback serving HTML, or hanging when ``hanging`` is set."""

    def __init__(self) -> None:
        self.hanging = threading.Event()
        self.stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # see bench.common.serving

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if owner.hanging.is_set():
                    owner.stopping.wait(120)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(PLAYER_PAGE)))
                self.end_headers()
                self.wfile.write(PLAYER_PAGE)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def server_env(*, breakers: bool, live_check: bool) -> dict[str, str]:
    return bench_env(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="true",
        SHIELD_ENABLED="false",
        CIRCUIT_BREAKERS_ENABLED=str(breakers).lower(),
        SOURCES_LIVE_CHECK=str(live_check).lower(),
        CIRCUIT_FAILURE_THRESHOLD=str(FAILURE_THRESHOLD),
        # Long enough that the open circuit stays open for the whole run (no half-open probe).
        CIRCUIT_RESET_SECONDS="600",
    )


def shell(code: str, env: dict[str, str]) -> str:
    return manage("shell", "--no-imports", "-c", code, env=env)


def set_up_providers(primary: ProviderServer, fallback: ProviderServer) -> None:
    code = f"""
from streaming.models import Provider
Provider.objects.all().delete()
common = dict(movie_path_template="/embed/movie/{{tmdb_id}}", health_path="/",
              timeout_seconds={PROVIDER_TIMEOUT})
Provider.objects.create(name="Primary", slug="primary", kind="vidking", base_url="{primary.url}",
                        start_param="progress", color_param="color", priority=10, **common)
Provider.objects.create(name="Fallback", slug="fallback", kind="embed", base_url="{fallback.url}",
                        start_param="startAt", priority=20, **common)
"""
    shell(code, server_env(breakers=True, live_check=False))


def open_primary_circuit() -> str:
    """Run the health probe the beat schedule runs until the primary's circuit opens."""
    code = f"""
from streaming import services
from streaming.models import Provider
from streamsite.resilience import get_breaker
primary = Provider.objects.get(slug="primary")
for _ in range({FAILURE_THRESHOLD}):
    print(services.probe_provider(provider_id=primary.pk).detail)
print(get_breaker(primary.breaker_name).state())
"""
    return shell(code, server_env(breakers=True, live_check=False)).strip().splitlines()[-1]


def close_primary_circuit() -> None:
    code = """
from streaming import services
from streaming.models import Provider
services.reset_circuit(provider=Provider.objects.get(slug="primary"))
"""
    shell(code, server_env(breakers=True, live_check=False))


def median_result(results: list[WrkResult]) -> WrkResult:
    """Per-figure median over the rounds, so one noisy round does not decide the comparison."""
    return WrkResult(
        requests_per_second=statistics.median(r.requests_per_second for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        non_2xx=sum(r.non_2xx for r in results),
    )


def describe(url: str) -> str:
    """One request, to show what the scenario answers: the first source and the skipped ones."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    took = (time.perf_counter() - started) * 1000
    first = body["sources"][0]["provider"] if body["sources"] else "-"
    skipped = ",".join(s["provider"] for s in body["skipped"]) or "-"
    return f"first={first} skipped={skipped} ({took:.0f} ms)"


def measure(url: str, *, seconds: int, connections: int) -> WrkResult:
    # A long client timeout: in (c) requests legitimately take seconds and must be counted,
    # not dropped as wrk timeouts.
    command = [
        "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "--latency", url,
    ]  # fmt: skip
    return parse_wrk(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


@contextlib.contextmanager
def serving(*, breakers: bool, live_check: bool) -> Iterator[str]:
    with gunicorn(server_env(breakers=breakers, live_check=live_check), workers=2) as base:
        yield base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of bare, (a) and (b)")
    args = parser.parse_args()
    run = {"seconds": args.seconds, "connections": args.connections}

    print("Preparing PostgreSQL (demo catalog), Redis and two provider servers…", flush=True)
    fresh_database(DATABASE_URL)
    subprocess.run(["redis-cli", "-u", REDIS_URL, "flushdb"], check=True, capture_output=True)
    env = server_env(breakers=True, live_check=False)
    manage("load_demo", "--verbosity", "0", env=env)
    primary, fallback = ProviderServer(), ProviderServer()
    set_up_providers(primary, fallback)
    rows: list[tuple[str, WrkResult, str]] = []

    try:
        with serving(breakers=True, live_check=False) as base:
            with urllib.request.urlopen(f"{base}/api/movies?page_size=1") as response:
                movie_id = json.load(response)["results"][0]["id"]
            path = f"/api/streaming/sources/{movie_id}"
            measure(base + "/bench/bare", seconds=1, connections=args.connections)
            measure(base + path, seconds=1, connections=args.connections)
            # (a), (b) and the baseline take turns, round after round: whatever else the
            # machine is doing then weighs on all three alike.
            runs: dict[str, list[WrkResult]] = {"bare": [], "a": [], "b": []}
            for _ in range(args.rounds):
                primary.hanging.clear()
                close_primary_circuit()
                seen_a = describe(base + path)
                runs["a"].append(measure(base + path, **run))
                primary.hanging.set()
                state = open_primary_circuit()
                seen_b = describe(base + path)
                runs["b"].append(measure(base + path, **run))
                runs["bare"].append(measure(base + "/bench/bare", **run))
                print(f"round done (primary circuit after probes: {state})", flush=True)
            bare = median_result(runs["bare"])
            rows.append(("bare JsonResponse (/bench/bare)", bare, ""))
            rows.append(("(a) cached, all healthy", median_result(runs["a"]), seen_a))
            rows.append(("(b) primary hanging, circuit open", median_result(runs["b"]), seen_b))

        scenarios = [
            ("(b') same, live check on", True, True),
            ("(c) primary hanging, breakers off, live", False, True),
            ("(c0) breakers off, no live check", False, False),
        ]
        for name, breakers, live_check in scenarios:
            with serving(breakers=breakers, live_check=live_check) as base:
                seen = describe(base + path)
                rows.append((name, measure(base + path, **run), seen))
    finally:
        primary.stop()
        fallback.stop()

    print(
        f"\ngunicorn 2 workers x 1 thread, wrk {args.connections} connections, {args.seconds}s "
        f"each; bare, (a), (b): median of {args.rounds} interleaved rounds; "
        f"primary timeout {PROVIDER_TIMEOUT:g}s"
    )
    print(
        f"{'scenario':<42} {'req/s':>8} {'vs bare':>8} {'p50 ms':>9} {'p99 ms':>9} "
        f"{'non-2xx':>8}  answer"
    )
    for name, result, seen in rows:
        ratio = result.requests_per_second / bare.requests_per_second
        print(
            f"{name:<42} {result.requests_per_second:>8.0f} {ratio:>7.2f}x "
            f"{result.p50_ms:>9.2f} {result.p99_ms:>9.2f} {result.non_2xx:>8}  {seen}"
        )
    a, b = rows[1][1], rows[2][1]
    print(
        f"\n(b)/(a): p50 {b.p50_ms / a.p50_ms:.2f}x, p99 {b.p99_ms / a.p99_ms:.2f}x "
        "(the breaker's promise: within 2x)"
    )
    b_live, c = rows[3][1], rows[4][1]
    print(
        f"(c)/(b'): p50 {c.p50_ms / b_live.p50_ms:.0f}x, throughput "
        f"{b_live.requests_per_second / max(c.requests_per_second, 0.01):.0f}x lower without it"
    )


if __name__ == "__main__":
    main()
