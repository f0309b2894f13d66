"""Signed-in requests read their session and user from Redis, and every change that matters for
authentication (signing out, a new password, deactivation, premium) still takes effect at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.backends import ModelBackend, user_cache_key
from accounts.services import set_premium
from streamsite import cache
from tests.redis_process import RedisProcess, redis_process

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.whoami_urls")]

PASSWORD = "correct horse battery"  # noqa: S105 - a test password


@pytest.fixture
def member(db: None) -> AbstractBaseUser:
    return get_user_model().objects.create_user("member", password=PASSWORD)


@pytest.fixture
def signed_in(member: AbstractBaseUser) -> Client:
    client = Client()
    assert client.login(username="member", password=PASSWORD)
    return client


def auth_queries(client: Client) -> list[str]:
    """The SQL of one authenticated request that touched the session or user tables."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/whoami").json()["user"] == "member"
    return [
        q["sql"] for q in queries if "accounts_devicesession" in q["sql"] or "auth_user" in q["sql"]
    ]


def settle(user: AbstractBaseUser) -> None:
    """Let the "just changed" marker that signing in left on the user go, as time would."""
    cache.delete(user_cache_key(user.pk))


def test_signed_in_requests_read_session_and_user_from_redis(
    signed_in: Client, member: AbstractBaseUser
) -> None:
    settle(member)
    auth_queries(signed_in)  # the first request after the marker reads the user and caches it

    assert auth_queries(signed_in) == []
    assert auth_queries(signed_in) == []


def test_a_session_deleted_by_signing_out_stays_signed_out(
    signed_in: Client, member: AbstractBaseUser
) -> None:
    settle(member)
    auth_queries(signed_in)
    stolen = signed_in.cookies["sessionid"].value

    signed_in.post("/accounts/logout/")
    replay = Client()
    replay.cookies["sessionid"] = stolen

    assert replay.get("/api/whoami").json()["user"] is None


def test_a_new_password_signs_out_other_sessions_at_once(
    signed_in: Client, member: AbstractBaseUser
) -> None:
    settle(member)
    auth_queries(signed_in)  # the user is now cached with the old password hash

    member.set_password("an entirely new passphrase")
    member.save()

    assert signed_in.get("/api/whoami").json()["user"] is None


def test_deactivating_a_user_signs_them_out_at_once(
    signed_in: Client, member: AbstractBaseUser
) -> None:
    settle(member)
    auth_queries(signed_in)

    member.is_active = False
    member.save(update_fields=["is_active"])

    assert signed_in.get("/api/whoami").json()["user"] is None


def test_premium_set_in_bulk_reaches_the_cached_user(
    signed_in: Client, member: AbstractBaseUser, settings: Any
) -> None:
    settings.RATELIMITS = {**settings.RATELIMITS, "free": "100/minute", "premium": "500/minute"}
    settle(member)
    assert signed_in.get("/api/whoami")["RateLimit-Limit"] == "100"

    set_premium(user_ids=[member.pk], premium=True)  # queryset writes: no signals

    assert signed_in.get("/api/whoami")["RateLimit-Limit"] == "500"


def test_a_copy_read_before_a_change_is_never_cached_after_it(member: AbstractBaseUser) -> None:
    """The race the "changed" marker closes: a request reads the row, another process commits
    a change and drops the cached copy, then the first request would cache what it read."""
    backend = ModelBackend()
    settle(member)
    stale = backend.get_user(member.pk)  # read and cached
    member.is_active = False
    member.save(update_fields=["is_active"])  # the marker replaces the cached copy

    cache.add(user_cache_key(member.pk), stale, 300)  # the slow request's late write

    assert backend.get_user(member.pk) is None


@pytest.fixture
def private_redis(settings: Any) -> Iterator[RedisProcess]:
    with redis_process() as server:
        settings.CACHES = server.cache_settings()
        settings.CACHE_OUTAGE_COOLDOWN = 0.0
        yield server


def test_signing_in_and_out_work_from_the_database_while_redis_is_down(
    private_redis: RedisProcess, member: AbstractBaseUser
) -> None:
    client = Client()
    assert client.login(username="member", password=PASSWORD)
    assert client.get("/api/whoami").json()["user"] == "member"

    private_redis.stop()

    assert client.get("/api/whoami").json()["user"] == "member"
    fresh = Client()
    assert fresh.login(username="member", password=PASSWORD)
    assert fresh.get("/api/whoami").json()["user"] == "member"
    fresh.post("/accounts/logout/")
    assert fresh.get("/api/whoami").json()["user"] is None
