"""How long each route family takes to answer while the database is unreachable.

    .venv/bin/python bench/outage.py [--seconds 15] [--clients 8] [--breakers off]

gunicorn (2 workers of 4 threads, as deployed) serves the demo catalog from PostgreSQL through
a TCP proxy this script owns, with a Redis of its own. The caches are filled by anonymous
visits, then an edit bumps the catalog's version (so what they hold is a stale copy), then the
proxy cuts the database off: open connections are reset and new ones refused, what a server
sees when the database's host dies. Clients then request every route family at once for
--seconds; the table gives, per family, the answers' statuses and their latency (p50, p95 and
the slowest), beside the same requests with the database up. The goal: every request under
1 s, the health check under 2 s. ``--breakers off`` (CIRCUIT_BREAKERS_ENABLED=false: no
database breaker, as before there was one) shows what requests waited for instead.

The slowest requests are those in flight when the database goes (they wait for their pooled
connection to fail) and, every DATABASE_CIRCUIT_RESET_SECONDS, the one request per process
that probes whether the database is back.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_DATABASE_URL,
    bench_env,
    fresh_database,
    gunicorn,
    manage,
    private_redis,
)
from tests.tcp_proxy import tcp_proxy  # noqa: E402

DATABASE_URL = BENCH_DATABASE_URL.rsplit("/", 1)[0] + "/streamsite_bench_outage"
PASSWORD = "bench-password-not-secret"  # noqa: S105 - a throwaway account in a bench database

SETUP = """
import json
from django.contrib.auth import get_user_model
from accounts.services import create_api_key
from catalog.models import Movie
user = get_user_model().objects.create_user("bench-viewer", password={password!r})
movie = Movie.objects.published().order_by("-popularity").values_list("pk", "slug").first()
print(json.dumps({{"key": create_api_key(user=user, name="bench").raw_key, "movie": movie}}))
"""


def request(url: str, headers: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(  # noqa: S310 - loopback only
            urllib.request.Request(url, headers=headers), timeout=60
        ) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, time.perf_counter() - started


def sign_in(base: str) -> str:
    """The session cookie of a signed-in viewer, through the login form."""
    jar = urllib.request.HTTPCookieProcessor()
    opener = urllib.request.build_opener(jar)
    opener.open(f"{base}/accounts/login/", timeout=30).read()
    token = next(c.value for c in jar.cookiejar if c.name == "csrftoken")
    body = urllib.parse.urlencode(
        {"username": "bench-viewer", "password": PASSWORD, "csrfmiddlewaretoken": token}
    ).encode()
    login = urllib.request.Request(
        f"{base}/accounts/login/", data=body, headers={"Referer": f"{base}/accounts/login/"}
    )
    opener.open(login, timeout=30).read()
    return next(f"sessionid={c.value}" for c in jar.cookiejar if c.name == "sessionid")


def families(movie_id: int, slug: str, key: str, session: str) -> dict[str, tuple[str, dict]]:
    api_key = {"Authorization": f"Api-Key {key}"}
    cookie = {"Cookie": session}
    return {
        "api, cached (anonymous)": (f"/api/movies/{movie_id}", {}),
        "api list, cached (anonymous)": ("/api/movies", {}),
        "api, cached (api key)": ("/api/genres", api_key),
        # A new search each time: never cached, so there is no copy to answer with.
        "api, uncached (anonymous)": ("/api/movies/search?q=film{n}", {}),
        "api, uncached (api key)": ("/api/movies/search?q=night{n}", api_key),
        "sources, cached": (f"/api/streaming/sources/{movie_id}", {}),
        "progress (signed in)": ("/api/progress", cookie),
        "page, cached (anonymous)": (f"/movies/{slug}/", {}),
        "page, uncached (anonymous)": ("/search/?q=city{n}", {}),
        "page (signed in)": ("/", cookie),
        "health": ("/api/health", {}),
        "health, live": ("/api/health/live", {}),
    }


def hammer(
    base: str, routes: dict[str, tuple[str, dict]], seconds: float, clients: int, phase: str
) -> dict[str, list[tuple[int, float]]]:
    """``clients`` threads cycling through every route family for ``seconds``; ``phase`` makes
    the uncached families' searches differ from those of other phases."""
    results: dict[str, list[tuple[int, float]]] = collections.defaultdict(list)
    names = list(routes)
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def client(offset: int) -> None:
        n = offset
        while time.monotonic() < deadline:
            name = names[n % len(names)]
            path, headers = routes[name]
            outcome = request(base + path.format(n=f"{phase}{n}"), headers)
            with lock:
                results[name].append(outcome)
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def report(up: dict, down: dict) -> None:
    print(
        f"{'route family':<30} {'up p50':>8} {'down statuses':<22} {'p50':>7} {'p95':>7} "
        f"{'max':>7} {'n':>5}"
    )
    for name in up:
        up_ms = statistics.median(t for _, t in up[name]) * 1000
        times = sorted(t for _, t in down[name])
        if not times:
            print(f"{name:<30} {up_ms:>6.1f}ms no answer before the run ended")
            continue
        statuses = collections.Counter(s for s, _ in down[name])
        shown = " ".join(f"{s}x{n}" for s, n in sorted(statuses.items()))
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(
            f"{name:<30} {up_ms:>6.1f}ms {shown:<22} {statistics.median(times) * 1000:>5.1f}ms "
            f"{p95 * 1000:>5.1f}ms {times[-1] * 1000:>5.0f}ms {len(times):>5}"
        )
    slowest = max(t for name in down for _, t in down[name] if not name.startswith("health"))
    health = max(
        (t for name in down for _, t in down[name] if name.startswith("health")), default=0.0
    )
    print(f"\nslowest request: {slowest * 1000:.0f} ms (goal < 1000); slowest health check: "
          f"{health * 1000:.0f} ms (goal < 2000)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--breakers", choices=["on", "off"], default="on")
    args = parser.parse_args()

    fresh_database(DATABASE_URL)
    host, port = "127.0.0.1", int(DATABASE_URL.rsplit(":", 1)[1].split("/")[0])
    name = DATABASE_URL.rsplit("/", 1)[1]
    with private_redis() as redis_url, tcp_proxy((host, port)) as proxy:
        env = bench_env(
            DATABASE_URL=f"postgres://postgres@127.0.0.1:{proxy.port}/{name}",
            REDIS_URL=redis_url,
            CELERY_TASK_ALWAYS_EAGER="true",
            SHIELD_ENABLED="false",  # this measures the database path, not the shield
            LOG_LEVEL="CRITICAL",
            CIRCUIT_BREAKERS_ENABLED="true" if args.breakers == "on" else "false",
        )
        manage("load_demo", "--verbosity", "0", env=env)
        made = manage("shell", "-c", SETUP.format(password=PASSWORD), env=env)
        setup = json.loads(made.strip().splitlines()[-1])
        key, (movie_id, slug) = setup["key"], setup["movie"]
        with gunicorn(env, workers=2, threads=4) as base:
            routes = families(movie_id, slug, key, sign_in(base))
            up = hammer(base, routes, 3.0, args.clients, "up")  # also fills every cache
            manage("shell", "-c", "from streamsite import cache; cache.bump('catalog')", env=env)
            proxy.cut()
            down = hammer(base, routes, args.seconds, args.clients, "down")
            proxy.restore()
    report(up, down)


if __name__ == "__main__":
    main()
