"""Sliding-window rate limits: exact across processes, per tier, with headers, failing open."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from prometheus_client import REGISTRY

from accounts.services import create_api_key, set_premium
from shield import store
from shield.decorators import bucket_of
from shield.ratelimit import decide, hit, parse_limit
from tests.redis_process import redis_process
from tests.shield.conftest import client_from, ratelimits, signals

# One process of the exactness test: 8 threads hammer one key from a common start time.
CONTENDER = """
import sys, threading, time
import django
django.setup()
from shield import store
from shield.decorators import bucket_of
from shield.ratelimit import hit, parse_limit

key, start_at = sys.argv[1], float(sys.argv[2])
item = parse_limit("100/minute")
granted = []
def worker():
    time.sleep(max(0.0, start_at - time.time()))
    for _ in range(25):
        granted.append(hit(item, key).allowed)
threads = [threading.Thread(target=worker) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sum(granted), len(granted))
"""


def test_exactly_the_limit_is_granted_to_4_processes_of_8_threads_racing_on_one_key(child_python):
    key = f"race-{uuid.uuid4()}"
    start_at = time.time() + 3  # every process is up and waiting before anyone starts
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "streamsite.settings"}
    env["SHIELD_REDIS_URL"] = settings.SHIELD_REDIS_URL
    processes = [
        child_python.start(
            "-c",
            CONTENDER,
            key,
            str(start_at),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(tuple(int(n) for n in out.split()))

    assert sum(attempts for _, attempts in results) == 4 * 8 * 25
    assert sum(granted for granted, _ in results) == 100


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def _burst(grant: object, count: int) -> int:
    return sum(bool(grant()) for _ in range(count))


def test_a_burst_across_a_window_edge_is_not_granted_twice_the_limit():
    item = parse_limit("10 per 4 seconds")
    moving_key, fixed_key = f"moving-{uuid.uuid4()}", f"fixed-{uuid.uuid4()}"
    fixed = FixedWindowRateLimiter(RedisStorage(settings.SHIELD_REDIS_URL))

    def moving_hit() -> bool:
        return hit(item, moving_key).allowed

    def fixed_hit() -> bool:
        return fixed.hit(item, fixed_key)

    # t=0 opens both windows with one request; the fixed window then resets at t=4.
    t0 = time.time()
    assert moving_hit() and fixed_hit()
    _sleep_until(t0 + 3.0)  # late in the first window: 9 more, up to the limit
    late = (_burst(moving_hit, 9), _burst(fixed_hit, 9))
    late_end = time.time()
    _sleep_until(t0 + 4.5)  # just after the edge: another burst of 10
    early_start = time.time()
    early = (_burst(moving_hit, 10), _burst(fixed_hit, 10))
    early_end = time.time()

    # Wall-clock preconditions of the scenario (met unless the machine stalls for a second).
    assert late_end < t0 + 4 and early_end < t0 + 3.0 + 4, "bursts ran too slowly"
    assert late == (9, 9)
    # Within 1.5 s the fixed window grants 19, nearly twice the limit; the sliding window
    # grants only the one slot freed by the request made at t=0.
    assert early == (1, 10)
    # Sliding, not stuck: once the late burst has left the window its 9 slots are free again
    # (while the request granted at t=4.5 still holds the tenth).
    _sleep_until(late_end + 4.1)
    assert time.time() < early_start + 4, "too slow to observe the window sliding"
    assert _burst(moving_hit, 10) == 9


@pytest.mark.django_db
def test_every_api_response_carries_rate_limit_headers():
    client = client_from("198.51.100.10")

    first = client.get("/api/genres")
    second = client.get("/api/movies?unknown=1")  # a 400 is counted and labelled too
    missing = client.get("/api/no-such-endpoint")

    assert (first.status_code, second.status_code, missing.status_code) == (200, 400, 404)
    assert first["RateLimit-Limit"] == first["X-RateLimit-Limit"] == "60"
    assert first["RateLimit-Remaining"] == first["X-RateLimit-Remaining"] == "59"
    assert second["RateLimit-Remaining"] == "58"
    assert missing["RateLimit-Remaining"] == "57"
    assert 1 <= int(first["RateLimit-Reset"]) <= 60
    assert abs(int(first["X-RateLimit-Reset"]) - (time.time() + 60)) <= 2


@pytest.mark.django_db
def test_over_the_limit_the_api_answers_429_json_with_retry_after():
    client = client_from("198.51.100.11")
    with ratelimits(anonymous="3/minute"):
        statuses = [client.get("/api/genres").status_code for _ in range(3)]
        refused = client.get("/api/genres")

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "rate_limited"
    assert "3 requests" in body["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Remaining"] == "0"


@pytest.mark.django_db
def test_health_and_pages_are_never_rate_limited():
    client = client_from("198.51.100.12")
    with ratelimits(anonymous="1/minute"):
        client.get("/api/genres")
        health = [client.get("/api/health").status_code for _ in range(3)]
        live = [client.get("/api/health/live").status_code for _ in range(3)]
        home = client.get("/")

    assert health == [200, 200, 200]
    assert live == [200, 200, 200]
    assert home.status_code == 200
    assert "RateLimit-Limit" not in home
    assert "RateLimit-Limit" not in client.get("/api/health/live")


@pytest.mark.django_db
def test_the_api_docs_and_their_schema_never_eat_into_the_api_allowance():
    client = client_from("198.51.100.16")
    with ratelimits(anonymous="2/minute"):
        loads = [
            [
                client.get(path).status_code
                for path in ("/api/docs", "/api/docs?script=", "/api/schema")
            ]
            for _ in range(3)
        ]
        first_call = client.get("/api/genres")

    assert loads == [[200, 200, 200]] * 3  # the docs never go blank
    assert first_call.status_code == 200
    assert first_call["RateLimit-Remaining"] == "1"  # the docs counted nothing


@pytest.mark.django_db
def test_each_tier_gets_its_own_limit_and_bucket():
    users = get_user_model().objects
    free, premium = users.create_user("free-viewer"), users.create_user("premium-viewer")
    set_premium(user_ids=[premium.pk], premium=True)
    issued = create_api_key(user=users.create_user("integrator"), name="batch jobs")

    anonymous = client_from("198.51.100.13")
    signed_in = client_from("198.51.100.13")
    signed_in.force_login(free)
    upgraded = client_from("198.51.100.13")
    upgraded.force_login(premium)
    api = client_from("198.51.100.13", HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")

    limits = {
        name: (response["RateLimit-Limit"], response["RateLimit-Remaining"])
        for name, response in [
            ("anonymous", anonymous.get("/api/genres")),
            ("free", signed_in.get("/api/genres")),
            ("premium", upgraded.get("/api/genres")),
            ("api", api.get("/api/genres")),
        ]
    }

    # Same address, four buckets: each request is the first in its own.
    assert limits == {
        "anonymous": ("60", "59"),
        "free": ("120", "119"),
        "premium": ("600", "599"),
        "api": ("1200", "1199"),
    }


@pytest.mark.django_db
def test_signed_in_users_are_limited_per_account_not_per_address():
    users = get_user_model().objects
    with ratelimits(free="2/minute"):
        first = client_from("198.51.100.14")
        first.force_login(users.create_user("first"))
        second = client_from("198.51.100.14")
        second.force_login(users.create_user("second"))
        first_statuses = [first.get("/api/genres").status_code for _ in range(3)]
        second_status = second.get("/api/genres").status_code
        # The same account from another address shares its bucket.
        elsewhere = client_from("203.0.113.14")
        elsewhere.force_login(users.get(username="first"))
        elsewhere_status = elsewhere.get("/api/genres").status_code

    assert first_statuses == [200, 200, 429]
    assert second_status == 200
    assert elsewhere_status == 429


@pytest.mark.django_db
def test_progress_heartbeats_have_their_own_bucket():
    client = client_from("198.51.100.15")
    with ratelimits(anonymous="2/minute", progress="5/minute"):
        browsing = [client.get("/api/genres").status_code for _ in range(3)]
        heartbeat = client.post(
            "/api/streaming/progress/1", data="{}", content_type="application/json"
        )

    assert browsing == [200, 200, 429]
    assert heartbeat.status_code != 429
    assert heartbeat["RateLimit-Limit"] == "5"


@pytest.mark.django_db
def test_a_refused_client_is_refused_from_memory_until_its_window_frees(clock):
    client = client_from("198.51.100.33")
    with redis_process() as server, override_settings(SHIELD_REDIS_URL=server.url):
        with ratelimits(anonymous="2 per 2 seconds"):
            statuses = [client.get("/api/genres").status_code for _ in range(3)]
            server.stop()  # from here on only this process's memory can refuse anything
            again = client.get("/api/genres")
            clock.advance(2.2)  # the first request has left the window
            after = client.get("/api/genres")

    assert statuses == [200, 200, 429]
    # Nothing can be granted before the first request leaves the window: no need to ask Redis.
    assert again.status_code == 429
    assert again["RateLimit-Remaining"] == "0"
    assert 1 <= int(again["Retry-After"]) <= 2
    # Once it has, Redis is asked again; it is down, so the request is let through uncounted.
    assert after.status_code == 200
    assert "RateLimit-Limit" not in after


@pytest.mark.django_db
def test_an_api_key_is_read_from_the_database_once_per_request():
    issued = create_api_key(user=get_user_model().objects.create_user("one-lookup"), name="jobs")
    client = client_from("198.51.100.34", HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    client.get("/api/genres")  # the limiter now knows the key's bucket

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/genres")
    key_reads = [q["sql"] for q in queries if 'FROM "accounts_apikey"' in q["sql"]]

    assert response.status_code == 200
    assert response["RateLimit-Limit"] == "1200"  # counted in the api tier
    # The rate limiter looks the key up while Redis decides; DRF reuses that answer.
    assert len(key_reads) == 1, key_reads


def _login(client, username: str):
    return client.post("/accounts/login/", {"username": username, "password": "wrong-password"})


@pytest.mark.django_db
def test_sign_in_attempts_are_limited_per_username_across_addresses():
    with ratelimits(login_username="2/minute", login_ip="100/minute"):
        statuses = [
            _login(client_from(f"198.51.100.{20 + n}"), "alice").status_code for n in range(3)
        ]
        other_user = _login(client_from("198.51.100.20"), "bob")
        refused = _login(client_from("198.51.100.29"), "ALICE ")

    assert statuses == [200, 200, 429]  # 200: the form again, with "wrong password"
    assert other_user.status_code == 200
    assert refused.status_code == 429
    assert "Too many attempts" in refused.content.decode()
    assert int(refused["Retry-After"]) >= 1


@pytest.mark.django_db
def test_sign_in_and_sign_up_attempts_are_limited_per_address():
    client = client_from("198.51.100.30")
    with ratelimits(login_ip="2/minute", signup_ip="1/hour"):
        logins = [_login(client, f"user{n}").status_code for n in range(3)]
        signups = [
            client.post("/accounts/signup/", {"username": f"new{n}"}).status_code for n in range(2)
        ]
        reading_the_form = client.get("/accounts/login/").status_code

    assert logins == [200, 200, 429]
    assert signups[1] == 429
    assert reading_the_form == 200  # only POSTs count


def _decisions(tier: str, result: str) -> float:
    labels = {"tier": tier, "result": result}
    return REGISTRY.get_sample_value("streamsite_ratelimit_decisions_total", labels) or 0.0


@pytest.mark.django_db
def test_decisions_are_counted_by_tier_and_result():
    before = (_decisions("anonymous", "allowed"), _decisions("anonymous", "limited"))
    client = client_from("198.51.100.31")
    with ratelimits(anonymous="1/minute"):
        client.get("/api/genres")
        client.get("/api/genres")

    after = (_decisions("anonymous", "allowed"), _decisions("anonymous", "limited"))
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 1.0)


@pytest.mark.django_db
def test_when_redis_goes_down_requests_are_served_unlimited_logged_and_counted(caplog):
    client = client_from("198.51.100.32")
    with redis_process() as server, override_settings(SHIELD_REDIS_URL=server.url):
        with ratelimits(anonymous="2/minute"), signals(missing_paths="2/minute"):
            while_up = client.get("/api/genres")
            server.stop()
            fail_open_before = _decisions("anonymous", "fail_open")
            with caplog.at_level(logging.WARNING, logger="streamsite.shield"):
                while_down = [client.get("/api/genres") for _ in range(4)]
                scanning = [client.get(f"/api/missing-{n}").status_code for n in range(5)]

    assert while_up["RateLimit-Limit"] == "2"
    assert [r.status_code for r in while_down] == [200, 200, 200, 200]
    assert all("RateLimit-Limit" not in r for r in while_down)
    assert scanning == [404] * 5  # DDoS detection fails open too: nobody is blocked
    assert _decisions("anonymous", "fail_open") - fail_open_before == 9
    assert "Redis unavailable" in caplog.text
    assert "failing open" in caplog.text
    assert json.loads(while_down[0].content)  # the view really ran


def test_limits_keep_working_after_redis_forgets_its_scripts():
    item = parse_limit("2/minute")
    key = f"restart-{uuid.uuid4()}"
    before = hit(item, key)

    store.client().script_flush()  # what a Redis restart does to loaded Lua scripts

    after = [hit(item, key) for _ in range(2)]
    assert before.allowed and before.remaining == 1
    assert [(d.allowed, d.remaining) for d in after] == [(True, 0), (False, 0)]


def test_limits_keep_counting_across_a_redis_restart():
    item = parse_limit("2/minute")
    key = f"restarted-{uuid.uuid4()}"
    with redis_process() as server, override_settings(SHIELD_REDIS_URL=server.url):
        before = decide(item, key, tier="anonymous")
        server.restart()  # every connection closed, windows and loaded scripts gone
        after = [decide(item, key, tier="anonymous") for _ in range(3)]

    assert before is not None and before.remaining == 1
    # Counted again at once on a new connection, not waved through while "Redis is down".
    assert None not in after
    assert [(d.allowed, d.remaining) for d in after] == [(True, 1), (True, 0), (False, 0)]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RATELIMIT_API", "lots", "RATELIMIT_API must look like '60/minute'"),
        ("SHIELD_MISSING_PATHS", "20 a minute", "SHIELD_MISSING_PATHS must look like"),
        ("SHIELD_BLOCK_DURATIONS", "1m,10m", "SHIELD_BLOCK_DURATIONS must be comma-separated"),
    ],
)
def test_a_mistyped_limit_stops_start_up_naming_the_variable(
    child_python, variable, value, message
):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "streamsite.settings", variable: value}
    result = child_python.run("manage.py", "check", env=env, timeout=60)

    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.django_db
@override_settings(SHIELD_REDIS_URL="")
def test_without_redis_the_demo_still_limits_each_process_in_memory():
    client = client_from("198.51.100.40")
    with ratelimits(anonymous="2/minute"):
        responses = [client.get("/api/genres") for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r["RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]


@pytest.mark.django_db
@pytest.mark.urls("tests.shield.bucket_urls")
def test_the_bucket_is_the_one_the_view_declares_wherever_it_is_routed():
    client = client_from("198.51.100.41")
    with ratelimits(anonymous="2/minute", progress="5/minute"):
        declared = client.get("/api/anything/ping")
        undeclared = [client.get("/api/anything/plain").status_code for _ in range(3)]
        exempt = [client.get("/api/anything/open") for _ in range(3)]
        tiered = [client.get("/anything/tiered").status_code for _ in range(3)]

    assert declared["RateLimit-Limit"] == "5"  # the player's bucket, not the caller's tier
    assert undeclared == [200, 200, 200]  # no mark: not limited, even under /api/
    assert [r.status_code for r in exempt] == [200, 200, 200]
    assert all("RateLimit-Limit" not in r for r in exempt)
    assert tiered == [200, 200, 429]  # an API view outside /api/: still the caller's tier


def _routes(
    patterns: list[URLPattern | URLResolver], prefix: str = ""
) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every route of ``patterns`` (included ones too), with its view."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def test_every_view_of_the_api_declares_its_rate_limit_bucket():
    routes = _routes(get_resolver().url_patterns)
    api = [(route, view) for route, view in routes if route.startswith("api/")]
    undeclared = [route for route, view in api if bucket_of(view) is None]

    assert len(api) >= 15  # the whole API was walked
    assert undeclared == []  # an API view without a bucket would never be limited
