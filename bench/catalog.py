"""Catalog API throughput through gunicorn on loopback, relative to a bare JsonResponse view,
uncached and cached in Redis; then the cache hit ratio of a browse workload after warm_cache.

    .venv/bin/python bench/catalog.py [--seconds 3] [--connections 8] [--rounds 5]

Serves the demo catalog from PostgreSQL with 2 gunicorn workers and a private redis-server, and
measures GET /api/movies and GET /api/movies/<id> against /bench/bare served by the same
gunicorn in the same run, three ways:

* uncached: CACHE_ENABLED=false, every request reads PostgreSQL;
* cached: the default, every hit reads its entry from Redis (one round trip);
* cached + local: CACHE_LOCAL_SECONDS=1, hits answered from the worker's memory, an edit
  reaching the other workers within a second.

Each figure is paired with /bench/bare measured just before it on the same server, and the
ratio reported is the median over the rounds of those pairs, so load from anything else on the
machine hits both sides of a ratio alike. The shield (rate limits, DDoS detection) is off:
bench/shield.py measures its price, and its limits would refuse a benchmark from one address.

Hit ratio: after `manage.py warm_cache`, wrk replays a browse workload (home, browse sorts and
genres with a second page, API lists, the genre list, the 20 most popular movies' pages and API
details) and the ratio comes from the difference of streamsite_cache_requests_total in
/metrics before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
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
    private_redis,
    wrk,
)

SERVERS = {
    "uncached": {"CACHE_ENABLED": "false"},
    "cached (Redis)": {"CACHE_ENABLED": "true", "CACHE_LOCAL_SECONDS": "0"},
    "cached + local memory 1s": {"CACHE_ENABLED": "true", "CACHE_LOCAL_SECONDS": "1"},
}
HIT_RATIO_GOAL = 0.95


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def paired(base: str, path: str, *, seconds: int, connections: int) -> tuple[WrkResult, WrkResult]:
    """/bench/bare, then ``path``, back to back on one server."""
    bare = wrk(base + "/bench/bare", seconds=seconds, connections=connections)
    target = wrk(base + path, seconds=seconds, connections=connections)
    assert target.non_2xx == 0, f"{path} answered errors"
    return bare, target


def print_pairs(label: str, pairs: dict[str, list[tuple[WrkResult, WrkResult]]]) -> None:
    print(f"\n{label}")
    print(
        f"  {'endpoint':<26} {'req/s':>7} {'bare req/s':>11} {'ratio':>6} "
        f"{'p99 ms':>7} {'bare p99':>9} {'p99 ratio':>9}"
    )
    for name, samples in pairs.items():
        ratio = statistics.median(t.requests_per_second / b.requests_per_second for b, t in samples)
        p99_ratio = statistics.median(t.p99_ms / b.p99_ms for b, t in samples)
        target = statistics.median(t.requests_per_second for _, t in samples)
        bare = statistics.median(b.requests_per_second for b, _ in samples)
        p99 = statistics.median(t.p99_ms for _, t in samples)
        bare_p99 = statistics.median(b.p99_ms for b, _ in samples)
        print(
            f"  {name:<26} {target:>7.0f} {bare:>11.0f} {ratio:>5.2f}x "
            f"{p99:>7.2f} {bare_p99:>9.2f} {p99_ratio:>8.2f}x"
        )


# --- Hit ratio ------------------------------------------------------------------------------


def browse_workload(base: str) -> list[str]:
    genres = [genre["slug"] for genre in get_json(f"{base}/api/genres")["results"]]
    top = get_json(f"{base}/api/movies?page_size=20")["results"]
    return [
        "/",
        "/browse/",
        "/browse/?sort=newest",
        "/browse/?sort=rating",
        "/browse/?page=2",  # not warmed: visitors page on
        *(f"/browse/?genre={slug}" for slug in genres),
        "/api/movies",
        "/api/movies?ordering=newest",
        *(f"/api/movies?genre={slug}" for slug in genres),
        "/api/genres",
        *(f"/movies/{movie['slug']}/" for movie in top),
        *(f"/api/movies/{movie['id']}" for movie in top),
    ]


def replay(base: str, paths: list[str], *, seconds: int, connections: int) -> WrkResult:
    script = "\n".join(
        [
            "local paths = {" + ", ".join(json.dumps(path) for path in paths) + "}",
            "local i = 0",
            "request = function()",
            "  i = i + 1",
            '  return wrk.format("GET", paths[(i - 1) % #paths + 1])',
            "end",
        ]
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua.name, base],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return parse_wrk(output)


def cache_counts(base: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = {"hit": 0.0, "miss": 0.0, "stale": 0.0}
    for line in text.splitlines():
        if line.startswith('streamsite_cache_requests_total{namespace="catalog"'):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            counts[result] += float(line.rsplit(" ", 1)[1])
    return counts


def hit_ratio(base: str, env: dict[str, str], *, seconds: int, connections: int) -> None:
    paths = browse_workload(base)
    started = time.monotonic()
    manage("warm_cache", "--verbosity", "0", env=env)
    warm_seconds = time.monotonic() - started
    before = cache_counts(base)
    result = replay(base, paths, seconds=seconds, connections=connections)
    after = cache_counts(base)
    delta = {key: after[key] - before[key] for key in before}
    reads = sum(delta.values())
    ratio = delta["hit"] / reads if reads else 0.0
    verdict = "meets" if ratio >= HIT_RATIO_GOAL else "MISSES"
    print(
        f"\nBrowse workload after warm_cache ({warm_seconds:.1f}s): {len(paths)} URLs, "
        f"{result.requests_per_second:.0f} req/s, {result.non_2xx} non-2xx\n"
        f"catalog cache reads {reads:.0f}: hit {delta['hit']:.0f}, miss {delta['miss']:.0f}, "
        f"stale {delta['stale']:.0f} -> hit ratio {ratio:.2%} "
        f"({verdict} the {HIT_RATIO_GOAL:.0%} goal)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    print("Preparing a fresh PostgreSQL database with the demo catalog…", flush=True)
    fresh_database()
    with private_redis() as redis_url, contextlib.ExitStack() as stack:
        common = {
            "DATABASE_URL": BENCH_DATABASE_URL,
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "SHIELD_ENABLED": "false",
        }
        manage("load_demo", "--verbosity", "0", env=bench_env(**common))
        bases = {
            label: stack.enter_context(gunicorn(bench_env(**common, **extra), workers=2))
            for label, extra in SERVERS.items()
        }
        first = next(iter(bases.values()))
        movie_id = get_json(f"{first}/api/movies?page_size=1")["results"][0]["id"]
        targets = {
            "GET /api/movies": "/api/movies",
            f"GET /api/movies/{movie_id}": f"/api/movies/{movie_id}",
        }
        for base in bases.values():  # every worker connected and every entry loaded
            for path in ["/bench/bare", *targets.values()]:
                wrk(base + path, seconds=1, connections=args.connections)
        pairs: dict[str, dict[str, list[tuple[WrkResult, WrkResult]]]] = {
            label: {name: [] for name in targets} for label in bases
        }
        for _ in range(args.rounds):
            for label, base in bases.items():
                for name, path in targets.items():
                    pairs[label][name].append(
                        paired(base, path, seconds=args.seconds, connections=args.connections)
                    )

        print(
            f"\ngunicorn 2 workers, wrk {args.connections} connections, {args.seconds}s per "
            f"measurement, {args.rounds} rounds; each ratio (median of pairs) compares an endpoint "
            "with /bench/bare measured just before it on the same server"
        )
        for label, server_pairs in pairs.items():
            print_pairs(label, server_pairs)

        cached = bases["cached (Redis)"]
        hit_ratio(
            cached,
            bench_env(**common, **SERVERS["cached (Redis)"]),
            seconds=args.seconds,
            connections=args.connections,
        )


if __name__ == "__main__":
    main()
