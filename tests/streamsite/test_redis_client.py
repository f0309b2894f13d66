"""streamsite.redis: one client on the cache's connection pool, and Lua scripts on it."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from streamsite import redis as project_redis


@pytest.fixture(autouse=True)
def _needs_redis() -> None:
    assert settings.REDIS_URL, "these tests run against a real Redis (REDIS_URL)"


def test_the_client_shares_the_caches_connection_pool():
    assert project_redis.client().connection_pool is get_redis_connection("default").connection_pool


def test_one_client_per_url_and_timeout():
    url = settings.REDIS_URL

    assert project_redis.for_url(url, timeout=0.5) is project_redis.for_url(url, timeout=0.5)
    assert project_redis.for_url(url, timeout=0.5) is not project_redis.for_url(url, timeout=1.0)
    assert project_redis.for_url(url, timeout=0.5).ping()


def test_a_script_unknown_to_redis_is_loaded_and_runs_atomically():
    key = f"test:script:{uuid.uuid4().hex}"
    # A script Redis has never seen (as after a restart): EVALSHA fails, Script loads it.
    incr_and_read = project_redis.script(
        f"-- {key}\nredis.call('INCRBY', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])"
    )

    assert int(incr_and_read(keys=[key], args=[2])) == 2
    assert int(incr_and_read(keys=[key], args=[3])) == 5
    project_redis.client().delete(key)
