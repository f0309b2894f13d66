"""Outbound calls: circuit breakers shared through Redis, retries with backoff, timeouts.

Every test talks to a real HTTP server on 127.0.0.1 and, for the shared state, the suite's real
Redis database. Thresholds and timeouts are tiny so the suite stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests
from django.conf import settings as django_settings
from prometheus_client import REGISTRY
from werkzeug import Request, Response

from streamsite import resilience
from streamsite.cache import redis_backed
from streamsite.resilience import CircuitOpenError, get_breaker
from tests.http_server import HTTPServer

RESET_SECONDS = 0.3


@pytest.fixture(scope="module")
def running_server() -> Iterator[HTTPServer]:
    # Threaded, so a hanging handler never stalls the other requests of a test.
    httpserver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    httpserver.start()
    yield httpserver
    httpserver.stop()


@pytest.fixture
def server(running_server: HTTPServer) -> Iterator[HTTPServer]:
    running_server.clear()
    yield running_server
    running_server.clear()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so handlers blocked on it finish and the server can stop."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture(autouse=True)
def fast(settings) -> None:
    settings.OUTBOUND_CONNECT_TIMEOUT = 1.0
    settings.OUTBOUND_READ_TIMEOUT = 5.0
    settings.OUTBOUND_MAX_ATTEMPTS = 3
    settings.OUTBOUND_BACKOFF_BASE = 0.001
    settings.OUTBOUND_BACKOFF_CAP = 0.01
    settings.OUTBOUND_RETRY_AFTER_CAP = 5.0
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    settings.CIRCUIT_RESET_SECONDS = RESET_SECONDS
    settings.CIRCUIT_PROBE_SECONDS = 10.0


@pytest.fixture(params=["redis", "per-process"])
def backend(request, settings) -> str:
    """Breaker semantics hold with shared Redis state and with per-process state alike."""
    if request.param == "redis":
        assert redis_backed(), "REDIS_URL must point at the test Redis"
    else:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return request.param


@pytest.fixture
def name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def scripted(*statuses: int, headers: dict[str, str] | None = None) -> Callable:
    """A handler answering the given statuses in turn, then repeating the last one."""
    remaining = list(statuses)
    lock = threading.Lock()

    def handler(_: Request) -> Response:
        with lock:
            status = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return Response("{}", status=status, headers=headers or {}, content_type="application/json")

    return handler


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, name: str, method: str = "GET", **kwargs) -> requests.Response:
    return resilience.request(
        method, url, service="test", breaker=get_breaker(name), max_attempts=1, **kwargs
    )


def trip(server: HTTPServer, name: str) -> None:
    server.expect_request("/fail").respond_with_data("down", status=503)
    for _ in range(django_settings.CIRCUIT_FAILURE_THRESHOLD):
        call(server.url_for("/fail"), name)
    assert get_breaker(name).state() == "open"


def requests_to(server: HTTPServer, path: str) -> int:
    return sum(1 for request, _ in server.log if request.path == path)


# --- Circuit breaker -------------------------------------------------------------------------


def test_breaker_opens_after_threshold_consecutive_failures(backend, server, name):
    server.expect_request("/fail").respond_with_data("down", status=503)
    breaker = get_breaker(name)

    for expected_failures in (1, 2):
        response = call(server.url_for("/fail"), name)
        assert response.status_code == 503
        assert breaker.snapshot() == {
            "state": "closed",
            "failures": expected_failures,
            "opened_at": None,
        }
    call(server.url_for("/fail"), name)

    snapshot = breaker.snapshot()
    assert snapshot["state"] == "open"
    assert snapshot["opened_at"] == pytest.approx(time.time(), abs=5)


def test_a_success_resets_the_consecutive_failure_count(backend, server, name):
    server.expect_request("/x").respond_with_handler(scripted(503, 503, 200, 503, 503))

    for _ in range(5):
        call(server.url_for("/x"), name)

    assert get_breaker(name).snapshot()["state"] == "closed"
    assert get_breaker(name).snapshot()["failures"] == 2


def test_open_circuit_fails_fast_without_reaching_the_server(backend, server, name):
    trip(server, name)
    server.expect_request("/ok").respond_with_data("fine")

    with pytest.raises(CircuitOpenError) as raised:
        call(server.url_for("/ok"), name)

    assert requests_to(server, "/ok") == 0
    assert raised.value.name == name
    assert 0 < raised.value.retry_after <= RESET_SECONDS


def test_half_open_lets_exactly_one_of_many_concurrent_callers_probe(
    backend, server, release, name
):
    trip(server, name)
    time.sleep(RESET_SECONDS + 0.05)
    callers = 8
    turned_away = []
    everyone_else_done = threading.Event()

    def probe_handler(_: Request) -> Response:
        # The probe is still in flight while every other caller tries its luck.
        everyone_else_done.wait(timeout=10)
        return Response("fine")

    server.expect_request("/probe").respond_with_handler(probe_handler)
    barrier = threading.Barrier(callers)
    responses = []

    def caller() -> None:
        barrier.wait()
        try:
            responses.append(call(server.url_for("/probe"), name))
        except CircuitOpenError:
            turned_away.append(1)
            if len(turned_away) == callers - 1:
                everyone_else_done.set()

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert len(turned_away) == callers - 1
    assert [r.status_code for r in responses] == [200]
    assert requests_to(server, "/probe") == 1


def test_successful_probe_closes_the_circuit(backend, server, name):
    trip(server, name)
    server.expect_request("/ok").respond_with_data("fine")
    time.sleep(RESET_SECONDS + 0.05)
    assert get_breaker(name).state() == "half_open"

    assert call(server.url_for("/ok"), name).status_code == 200

    assert get_breaker(name).snapshot() == {"state": "closed", "failures": 0, "opened_at": None}
    assert call(server.url_for("/ok"), name).status_code == 200
    assert requests_to(server, "/ok") == 2


def test_failed_probe_reopens_the_circuit_for_another_reset_period(backend, server, name):
    trip(server, name)
    first_opened_at = get_breaker(name).snapshot()["opened_at"]
    time.sleep(RESET_SECONDS + 0.05)

    assert call(server.url_for("/fail"), name).status_code == 503

    snapshot = get_breaker(name).snapshot()
    assert snapshot["state"] == "open"
    assert snapshot["opened_at"] > first_opened_at
    with pytest.raises(CircuitOpenError):
        call(server.url_for("/fail"), name)
    assert requests_to(server, "/fail") == django_settings.CIRCUIT_FAILURE_THRESHOLD + 1


def test_reset_closes_an_open_circuit_for_operators(backend, server, name):
    trip(server, name)
    server.expect_request("/ok").respond_with_data("fine")

    get_breaker(name).reset()

    assert call(server.url_for("/ok"), name).status_code == 200


def test_client_errors_are_returned_and_do_not_trip_the_breaker(backend, server, name):
    server.expect_request("/missing").respond_with_data("no", status=404)

    for _ in range(5):
        assert call(server.url_for("/missing"), name).status_code == 404

    assert get_breaker(name).snapshot()["failures"] == 0
    assert requests_to(server, "/missing") == 5


def test_slow_call_does_not_block_another_threads_call_through_the_same_breaker(
    server, release, name
):
    slow_started = threading.Event()

    def slow(_: Request) -> Response:
        slow_started.set()
        release.wait(timeout=20)
        return Response("slow")

    server.expect_request("/slow").respond_with_handler(slow)
    server.expect_request("/fast").respond_with_data("fast")
    slow_result = []
    slow_thread = threading.Thread(
        target=lambda: slow_result.append(call(server.url_for("/slow"), name, timeout=(1, 30)))
    )
    slow_thread.start()
    assert slow_started.wait(timeout=10)

    fast_response = call(server.url_for("/fast"), name)

    assert fast_response.text == "fast"
    assert slow_thread.is_alive() and slow_result == []
    release.set()
    slow_thread.join(timeout=10)
    assert slow_result[0].text == "slow"


def test_separate_processes_see_the_same_breaker_state(child_python, settings, server, name):
    # Long enough that the circuit is still open however slowly the child process starts.
    settings.CIRCUIT_RESET_SECONDS = 60
    assert redis_backed()
    server.expect_request("/fail").respond_with_data("down", status=503)
    server.expect_request("/ok").respond_with_data("fine")
    child = (
        "import django, json, sys; django.setup()\n"
        "from streamsite import resilience\n"
        "breaker = resilience.get_breaker(sys.argv[1])\n"
        "for _ in range(int(sys.argv[3])):\n"
        "    resilience.request('GET', sys.argv[2], service='test', breaker=breaker,"
        " max_attempts=1)\n"
        "print(json.dumps(breaker.snapshot()))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "streamsite.settings",
        "REDIS_URL": django_settings.REDIS_URL,
        "CIRCUIT_FAILURE_THRESHOLD": "2",
        "CIRCUIT_RESET_SECONDS": "60",
    }

    def run_child(url: str, calls: int) -> dict:
        done = child_python.run("-c", child, name, url, str(calls), env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert run_child(server.url_for("/fail"), 2)["state"] == "open"

    # This process never saw a failure, yet the circuit the child opened stops it cold.
    with pytest.raises(CircuitOpenError):
        call(server.url_for("/ok"), name)
    assert requests_to(server, "/ok") == 0
    assert get_breaker(name).state() == "open"

    get_breaker(name).reset()
    assert run_child(server.url_for("/ok"), 0)["state"] == "closed"


def test_breaker_keeps_working_per_process_when_redis_is_down(settings, server, name, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    server.expect_request("/fail").respond_with_data("down", status=503)
    server.expect_request("/ok").respond_with_data("fine")

    with caplog.at_level(logging.WARNING, logger="streamsite.resilience"):
        assert call(server.url_for("/ok"), name).status_code == 200
        for _ in range(3):
            call(server.url_for("/fail"), name)
        with pytest.raises(CircuitOpenError):
            call(server.url_for("/ok"), name)

    assert "Redis unavailable" in caplog.text
    assert requests_to(server, "/ok") == 1


def test_disabled_breakers_let_every_call_through(settings, server, name):
    settings.CIRCUIT_BREAKERS_ENABLED = False
    server.expect_request("/fail").respond_with_data("down", status=503)

    for _ in range(6):
        call(server.url_for("/fail"), name)
    with get_breaker(name).guard():
        pass

    assert requests_to(server, "/fail") == 6
    assert get_breaker(name).state() == "closed"


def test_guard_counts_exceptions_as_failures_and_fails_fast_when_open(name):
    breaker = get_breaker(name)
    for _ in range(3):
        with pytest.raises(ValueError), breaker.guard():
            raise ValueError("provider sent garbage")
    ran = []

    with pytest.raises(CircuitOpenError), breaker.guard():
        ran.append(True)

    assert ran == []


def test_circuit_state_and_outbound_outcomes_are_exported_as_metrics(server, name):
    def sample(metric: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(metric, labels) or 0.0

    before_failures = sample(
        "streamsite_outbound_requests_total", service="test", outcome="server_error"
    )
    before_open = sample(
        "streamsite_outbound_requests_total", service="test", outcome="circuit_open"
    )

    trip(server, name)
    with pytest.raises(CircuitOpenError):
        call(server.url_for("/fail"), name)

    assert sample("streamsite_circuit_state", provider=name) == 2
    assert (
        sample("streamsite_outbound_requests_total", service="test", outcome="server_error")
        == before_failures + 3
    )
    assert (
        sample("streamsite_outbound_requests_total", service="test", outcome="circuit_open")
        == before_open + 1
    )
    assert sample("streamsite_outbound_request_seconds_count", service="test") >= 3
    get_breaker(name).reset()
    assert sample("streamsite_circuit_state", provider=name) == 0


# --- Retries and timeouts --------------------------------------------------------------------


def retrying_get(url: str, name: str, **kwargs) -> requests.Response:
    return resilience.request("GET", url, service="test", breaker=get_breaker(name), **kwargs)


def test_get_is_retried_on_503_and_succeeds(server, name):
    server.expect_request("/flaky").respond_with_handler(scripted(503, 503, 200))

    response = retrying_get(server.url_for("/flaky"), name)

    assert response.status_code == 200
    assert requests_to(server, "/flaky") == 3
    # One logical call that succeeded: the breaker saw no failure.
    assert get_breaker(name).snapshot()["failures"] == 0


def test_503_after_the_last_attempt_is_returned_and_counts_one_failure(server, name):
    server.expect_request("/down").respond_with_data("down", status=503)

    response = retrying_get(server.url_for("/down"), name)

    assert response.status_code == 503
    assert requests_to(server, "/down") == 3
    assert get_breaker(name).snapshot()["failures"] == 1


def test_post_is_never_retried(server, name):
    server.expect_request("/purge", method="POST").respond_with_data("down", status=503)

    response = resilience.request(
        "POST", server.url_for("/purge"), service="test", breaker=get_breaker(name), json={}
    )

    assert response.status_code == 503
    assert requests_to(server, "/purge") == 1


def test_post_with_refused_connection_is_not_retried_either():
    service = f"test-{uuid.uuid4().hex[:8]}"

    with pytest.raises(requests.ConnectionError):
        resilience.request("POST", f"http://127.0.0.1:{closed_port()}/x", service=service)

    attempts = REGISTRY.get_sample_value(
        "streamsite_outbound_requests_total", {"service": service, "outcome": "connection_error"}
    )
    assert attempts == 1


def test_429_retry_after_is_honoured(server, name):
    arrivals: list[float] = []
    statuses = scripted(429, 200, headers={"Retry-After": "1"})

    def handler(request: Request) -> Response:
        arrivals.append(time.monotonic())
        return statuses(request)

    server.expect_request("/limited").respond_with_handler(handler)

    response = retrying_get(server.url_for("/limited"), name)

    assert response.status_code == 200
    assert len(arrivals) == 2
    # Backoff alone would wait at most 0.01 s (the cap set above): the wait came from the header.
    assert arrivals[1] - arrivals[0] >= 0.95


def test_retry_after_longer_than_the_cap_is_shortened(settings, server, name):
    settings.OUTBOUND_RETRY_AFTER_CAP = 0.05
    server.expect_request("/limited").respond_with_handler(
        scripted(429, 200, headers={"Retry-After": "3600"})
    )

    assert retrying_get(server.url_for("/limited"), name).status_code == 200


def test_server_hanging_past_the_read_timeout_is_a_timeout_failure(server, release, name):
    def hang(_: Request) -> Response:
        release.wait(timeout=20)
        return Response("too late")

    server.expect_request("/hang").respond_with_handler(hang)

    with pytest.raises(requests.Timeout):
        retrying_get(server.url_for("/hang"), name, timeout=(1, 0.2), max_attempts=2)

    assert get_breaker(name).snapshot()["failures"] == 1
    release.set()


def test_refused_connection_is_a_failure_after_retries(name):
    url = f"http://127.0.0.1:{closed_port()}/x"

    with pytest.raises(requests.ConnectionError):
        retrying_get(url, name)

    assert get_breaker(name).snapshot()["failures"] == 1


def test_backoff_delays_are_capped_and_fully_jittered():
    base, cap = 0.1, 1.0

    delays = resilience.backoff_delays(9, base=base, cap=cap)

    assert len(delays) == 8
    assert len(set(delays)) == len(delays)
    for retry, delay in enumerate(delays):
        assert 0 <= delay <= min(cap, base * 2**retry)
    # Full jitter spreads over the whole window, not just its top: across many draws some
    # late-retry delays land in the lower half.
    late = [resilience.full_jitter_delay(6, base=base, cap=cap) for _ in range(200)]
    assert min(late) < cap / 2 < max(late)


def test_every_call_shares_one_pooled_session():
    assert resilience.session() is resilience.session()
