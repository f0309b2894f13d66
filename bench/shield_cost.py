"""Where the shield's CPU per API request goes: its own Python, and its Redis round trip.

    .venv/bin/python bench/shield_cost.py [--requests 2000] [--rounds 7]

bench/shield.py measures the shield through gunicorn and wrk, where a few hundred microseconds
of CPU hide in the noise of a whole server. This one serves the same load in one process, with
Django's test client (the same for every mode, so it cancels out), and reads the process's own
CPU time: GET /api/genres with 50 API keys taking turns, from one address, in three modes run
back to back in each round:

- shield off (SHIELD_ENABLED=false);
- shield on;
- shield on with its Redis replies canned: the shield's scripts answered in-process with what
  Redis would say to a client within its limits. This is the floor of the shield without its
  Redis round trip: what is left is its own Python (marks, identity, detection's batching,
  headers, metrics).

It also times, outside any request, one call of the rate limiter's script through redis-py's
``Script`` on the shared pool (how the shield calls Redis) and the same ``EVALSHA`` sent on a
connection held by the caller, the raw way.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_DATABASE_URL,
    bench_env,
    fresh_database,
    manage,
    private_redis,
)

DATABASE_URL = BENCH_DATABASE_URL + "_shield_cost"
KEYS = 50
MODES = ("off", "on", "on, Redis replies canned")


def cpu_per_call(function: Callable[[], object], calls: int) -> float:
    """Microseconds of this process's CPU per call of ``function``."""
    started = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per mode and round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    print("Preparing a fresh PostgreSQL database with the demo catalog…", flush=True)
    fresh_database(DATABASE_URL)
    with private_redis() as redis_url:
        env = bench_env(
            DATABASE_URL=DATABASE_URL,
            REDIS_URL=redis_url,
            CELERY_TASK_ALWAYS_EAGER="true",
            ALLOWED_HOSTS="testserver",
            # One address sends everything: measured is the cost of counting, not a block.
            SHIELD_REQUEST_RATE="100000000/10 seconds",
        )
        manage("load_demo", "--verbosity", "0", env=env)
        os.environ.update(env)
        results = measure(args.requests, args.rounds)

    median = {mode: statistics.median(values) for mode, values in results.items()}
    off = median["off"]
    print(f"\nCPU per request, median of {args.rounds} rounds of {args.requests} requests")
    for mode in MODES:
        print(
            f"  shield {mode:<26} {median[mode]:7.0f} µs   shield adds {median[mode] - off:5.0f} µs"
        )
    print(
        f"  one rate-limit script call: redis-py Script on the shared pool "
        f"{median['Script call']:.0f} µs, EVALSHA on a held connection "
        f"{median['held connection']:.0f} µs"
    )


def measure(requests: int, rounds: int) -> dict[str, list[float]]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamsite.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    from accounts.services import create_api_key
    from shield import detection, ratelimit, store
    from streamsite import clock

    user = get_user_model().objects.create_user("bench-client")
    keys = [f"Api-Key {create_api_key(user=user, name=f'key {n}').raw_key}" for n in range(KEYS)]
    time.sleep(11)  # keys just saved are not cached for a few seconds (accounts.backends)
    client = Client(REMOTE_ADDR="127.0.0.1")
    turn = itertools.cycle(keys)

    def request() -> None:
        response = client.get("/api/genres", HTTP_AUTHORIZATION=next(turn))
        assert response.status_code == 200, response.status_code

    def canned(source: str, *, keys: object, args: object) -> object:
        if source == ratelimit._ACQUIRE_AND_READ:
            return [1, 1, str(clock.time())]  # granted, one in the window
        if source == detection._OBSERVE_REQUEST:
            return [None, 1]  # not blocked, one request counted
        return [0, 0]

    real_run = store.run
    modes = {
        "off": (override_settings(SHIELD_ENABLED=False), real_run),
        "on": (override_settings(SHIELD_ENABLED=True), real_run),
        "on, Redis replies canned": (override_settings(SHIELD_ENABLED=True), canned),
    }
    results: dict[str, list[float]] = {}
    for round_number in range(rounds + 1):  # the first round warms up and is not kept
        order = list(modes.items())[:: 1 if round_number % 2 else -1]
        for mode, (shield_setting, run) in order:
            store.run = run
            with shield_setting:
                cost = cpu_per_call(request, requests)
            if round_number:
                results.setdefault(mode, []).append(cost)
        store.run = real_run
        results.setdefault("Script call", []).append(script_call_cost(requests))
        results.setdefault("held connection", []).append(held_connection_cost(requests))
        print(f"round {round_number} of {rounds} done", flush=True)
    return results


def script_call_cost(calls: int) -> float:
    from shield import ratelimit, store
    from streamsite import clock

    turn = itertools.cycle([f"bench:script:{n}" for n in range(KEYS)])
    return cpu_per_call(
        lambda: store.run(
            ratelimit._ACQUIRE_AND_READ, keys=[next(turn)], args=[clock.time(), 10**9, 60]
        ),
        calls,
    )


def held_connection_cost(calls: int) -> float:
    from shield import ratelimit, store
    from streamsite import clock

    client = store.client()
    sha = client.script_load(ratelimit._ACQUIRE_AND_READ)
    connection = client.connection_pool.get_connection()
    turn = itertools.cycle([f"bench:held:{n}" for n in range(KEYS)])

    def call() -> object:
        connection.send_command("EVALSHA", sha, 1, next(turn), clock.time(), 10**9, 60)
        return connection.read_response()

    try:
        return cpu_per_call(call, calls)
    finally:
        client.connection_pool.release(connection)


if __name__ == "__main__":
    main()
