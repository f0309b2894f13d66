"""The health endpoints a load balancer polls: honest about dependencies, cheap to poll."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from django.test import Client, override_settings

from streaming.models import Provider
from streamsite import health
from streamsite.resilience import get_breaker
from tests.redis_process import free_port, redis_process

pytestmark = pytest.mark.django_db

# Thresholds that make disk and memory "ok" whatever the machine running the tests looks like.
ROOMY = {
    "HEALTH_DISK_DEGRADED_PERCENT": 0.0,
    "HEALTH_DISK_FAIL_PERCENT": 0.0,
    "HEALTH_MEMORY_DEGRADED_PERCENT": 0.0,
}


@pytest.fixture(autouse=True)
def _fresh_report() -> Iterator[None]:
    health.forget_report()
    yield
    health.forget_report()


def get_health(client: Client | None = None) -> tuple[int, dict]:
    health.forget_report()
    response = (client or Client()).get("/api/health")
    return response.status_code, response.json()


@override_settings(**ROOMY)
def test_all_dependencies_up_is_ok_with_every_check_listed():
    status, body = get_health()

    assert status == 200
    assert body["status"] == "ok"
    assert set(body["checks"]) == {
        "database",
        "replicas",
        "redis",
        "broker",
        "disk",
        "memory",
        "circuits",
    }
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert body["checks"]["circuits"]["states"]["provider:vidking"] == "closed"
    assert 0 < body["checks"]["disk"]["free_percent"] <= 100
    assert 0 < body["checks"]["memory"]["available_percent"] <= 100


@override_settings(**ROOMY, CELERY_TASK_ALWAYS_EAGER=False)
def test_redis_and_broker_down_is_degraded_but_still_serving():
    with redis_process() as server:
        with override_settings(REDIS_URL=server.url, CELERY_BROKER_URL=server.url):
            before = get_health()
            server.stop()
            after = get_health()

    assert before[0] == 200
    assert before[1]["status"] == "ok"
    assert after[0] == 200
    assert after[1]["status"] == "degraded"
    assert after[1]["checks"]["redis"]["status"] == "degraded"
    assert after[1]["checks"]["broker"]["status"] == "degraded"
    assert after[1]["checks"]["database"]["status"] == "ok"


@override_settings(**ROOMY)
def test_an_open_provider_circuit_is_degraded_and_named():
    breaker = get_breaker(Provider.objects.get(slug="vidking").breaker_name)
    try:
        for _ in range(5):  # CIRCUIT_FAILURE_THRESHOLD
            breaker.record_failure()
        status, body = get_health()
    finally:
        breaker.reset()

    assert status == 200
    assert body["status"] == "degraded"
    assert body["checks"]["circuits"]["open"] == ["provider:vidking"]


def test_a_full_disk_fails_and_a_filling_one_degrades():
    with override_settings(**{**ROOMY, "HEALTH_DISK_FAIL_PERCENT": 100.0}):
        full = get_health()
    with override_settings(**{**ROOMY, "HEALTH_DISK_DEGRADED_PERCENT": 100.0}):
        filling = get_health()

    assert full[0] == 503
    assert full[1]["status"] == "fail"
    assert full[1]["checks"]["disk"]["status"] == "fail"
    assert filling[0] == 200
    assert filling[1]["checks"]["disk"]["status"] == "degraded"


@override_settings(**{**ROOMY, "HEALTH_MEMORY_DEGRADED_PERCENT": 100.0})
def test_low_memory_is_degraded():
    status, body = get_health()

    assert status == 200
    assert body["checks"]["memory"]["status"] == "degraded"


@override_settings(**ROOMY, HEALTH_CACHE_SECONDS=60)
def test_polling_every_second_reuses_one_round_of_checks(django_assert_num_queries):
    client = Client()
    first = client.get("/api/health").json()

    with django_assert_num_queries(0):
        polls = [client.get("/api/health").json() for _ in range(5)]

    assert all(poll == first for poll in polls)


def test_liveness_touches_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/api/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# Serves both endpoints in a fresh process whose database does not exist, as a web process
# would after the database host died.
CHILD = """
import json, django
django.setup()
from django.test import Client
client = Client()
ready, live = client.get("/api/health"), client.get("/api/health/live")
print(json.dumps([ready.status_code, ready.json(), live.status_code]))
"""


def test_database_down_fails_readiness_but_not_liveness(child_python):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "streamsite.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/streamsite",
        "DATABASE_POOL_TIMEOUT": "1",
        "ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "CRITICAL",
    }
    result = child_python.run("-c", CHILD, env=env, timeout=60)

    assert result.returncode == 0, result.stderr
    ready_status, body, live_status = json.loads(result.stdout.strip().splitlines()[-1])
    assert ready_status == 503
    assert body["status"] == "fail"
    assert body["checks"]["database"]["status"] == "fail"
    assert body["checks"]["redis"]["status"] == "ok"
    assert live_status == 200
