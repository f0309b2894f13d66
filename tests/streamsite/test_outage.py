"""streamsite.outage: one rule for leaving a failing Redis alone."""

from __future__ import annotations

import logging

import pytest

from streamsite.outage import Backoff, recover_all


@pytest.fixture
def backoff(settings) -> Backoff:
    settings.CACHE_OUTAGE_COOLDOWN = 2.0
    return Backoff("test component", fallback="answering without it")


def test_after_a_failure_redis_is_left_alone_for_the_cooldown_then_tried_again(backoff, clock):
    assert not backoff.is_down()

    backoff.failed(ConnectionError("refused"))

    assert backoff.is_down()
    clock.advance(1.9)
    assert backoff.is_down()
    clock.advance(0.2)
    assert not backoff.is_down()


def test_a_cooldown_of_zero_tries_redis_every_time(backoff, settings):
    settings.CACHE_OUTAGE_COOLDOWN = 0

    backoff.failed(ConnectionError("refused"))

    assert not backoff.is_down()


def test_recovered_ends_the_cooldown_at_once(backoff):
    backoff.failed(ConnectionError("refused"))

    backoff.recovered()

    assert not backoff.is_down()


def test_a_new_cache_configuration_forgets_the_failure_of_the_old_one(backoff, settings):
    backoff.failed(ConnectionError("refused"))

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    assert not backoff.is_down()


def test_an_outage_is_logged_once_not_on_every_failure(backoff, clock, caplog):
    with caplog.at_level(logging.WARNING, logger="streamsite.outage"):
        for _ in range(10):
            backoff.failed(ConnectionError("refused"))
            clock.advance(2.5)  # past each cool-down: every call really tried again

    warnings = [r.getMessage() for r in caplog.records if r.name == "streamsite.outage"]
    assert warnings == [
        "test component: Redis unavailable (ConnectionError: refused); "
        "answering without it for 2.0 s"
    ]


def test_the_warning_goes_to_the_components_own_logger(settings, caplog):
    settings.CACHE_OUTAGE_COOLDOWN = 2.0
    backoff = Backoff(
        "progress", fallback="writing to the database", logger=logging.getLogger("x.y")
    )

    with caplog.at_level(logging.WARNING, logger="x.y"):
        backoff.failed(TimeoutError("timed out"))

    assert [r.name for r in caplog.records] == ["x.y"]


def test_recover_all_wakes_every_backoff(settings):
    settings.CACHE_OUTAGE_COOLDOWN = 60
    first, second = Backoff("a", fallback="x"), Backoff("b", fallback="y")
    first.failed(OSError("down"))
    second.failed(OSError("down"))

    recover_all()

    assert not first.is_down() and not second.is_down()
