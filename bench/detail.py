"""A film's detail page with its cast and "More like this": queries and time, uncached and
cached, for a visitor (whose page is cached whole) and a signed-in viewer (whose page is their
own, with the cast and similar films cached apart), beside a bare JsonResponse view.

    .venv/bin/python bench/detail.py [--runs 30] [--film pulp-fiction]

In-process, through Django's test client: the page's own cost (queries, ORM, templates) with
no network or server in front, on the demo catalog in a fresh PostgreSQL database and a private
redis-server. "Uncached" bumps the catalog's cache version before every request, as any edit
does. Times are medians over the runs, in milliseconds, and as a ratio to the bare view timed
the same way in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_env, fresh_database, private_redis  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_DETAIL_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/streamsite_bench_detail"
)


def measure(runs: int, request: Callable[[], object], before: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        before()
        started = time.perf_counter()
        request()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--film", default="pulp-fiction")
    args = parser.parse_args()

    fresh_database(DATABASE_URL)
    with private_redis() as redis_url:
        os.environ.update(
            bench_env(DATABASE_URL=DATABASE_URL, REDIS_URL=redis_url, SHIELD_ENABLED="false")
        )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamsite.settings")
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from streamsite import cache

        call_command("load_demo", verbosity=0)
        path = f"/movies/{args.film}/"
        visitor = Client(HTTP_HOST="localhost")
        viewer = Client(HTTP_HOST="localhost")
        viewer.force_login(get_user_model().objects.create_user("bench-viewer"))

        def get(client: Client, url: str) -> Callable[[], object]:
            def run() -> object:
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)
                return response

            return run

        def queries(client: Client, url: str, before: Callable[[], None]) -> int:
            before()
            with CaptureQueriesContext(connection) as captured:
                get(client, url)()
            return len(captured)

        def bump() -> None:
            cache.bump("catalog")

        def nothing() -> None:
            pass

        get(visitor, path)()  # warm-ups: per-process lookups are no per-page cost
        get(viewer, path)()
        bare = measure(args.runs, get(visitor, "/bench/bare"), nothing)
        rows = [
            ("visitor, uncached", visitor, bump),
            ("visitor, cached", visitor, nothing),
            ("signed in, uncached", viewer, bump),
            ("signed in, cached", viewer, nothing),
        ]
        print(f"detail page {path}: median of {args.runs}, bare JsonResponse {bare:.2f} ms")
        print(f"{'':22} {'queries':>7} {'ms':>8} {'x bare':>7}")
        for name, client, before in rows:
            if before is nothing:
                get(client, path)()  # fills the cache the cached rows read
            count = queries(client, path, before)
            elapsed = measure(args.runs, get(client, path), before)
            print(f"{name:22} {count:>7} {elapsed:>8.2f} {elapsed / bare:>7.1f}")


if __name__ == "__main__":
    main()
