"""Catalog API throughput through gunicorn on loopback, relative to a bare JsonResponse view.

    .venv/bin/python bench/catalog.py [--seconds 5] [--connections 8]

Serves the demo catalog from PostgreSQL with 2 gunicorn workers and measures GET /api/movies
and GET /api/movies/<id> against /bench/bare in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_DATABASE_URL,
    bench_env,
    fresh_database,
    gunicorn,
    manage,
    report,
    wrk,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    print("Preparing a fresh PostgreSQL database with the demo catalog…", flush=True)
    fresh_database()
    env = bench_env(DATABASE_URL=BENCH_DATABASE_URL, REDIS_URL="", CELERY_TASK_ALWAYS_EAGER="true")
    manage("load_demo", "--verbosity", "0", env=env)

    with gunicorn(env, workers=2) as base:
        with urllib.request.urlopen(f"{base}/api/movies?page_size=1") as response:
            movie_id = json.load(response)["results"][0]["id"]
        targets = {
            "bare JsonResponse (/bench/bare)": "/bench/bare",
            "GET /api/movies": "/api/movies",
            f"GET /api/movies/{movie_id}": f"/api/movies/{movie_id}",
        }
        results = []
        for name, path in targets.items():
            wrk(base + path, seconds=1, connections=args.connections)  # warm up
            results.append(
                (name, wrk(base + path, seconds=args.seconds, connections=args.connections))
            )

    print(f"\ngunicorn 2 workers, wrk {args.connections} connections, {args.seconds}s each")
    report(results, baseline=results[0][1])


if __name__ == "__main__":
    main()
