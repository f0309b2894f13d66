"""Fixtures for the shield tests: clean per-process state and clients with chosen addresses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client, override_settings

from shield import csp, detection, local_blocks, ratelimit, store
from streamsite import health


def reset_process_state() -> None:
    local_blocks.forget()
    detection.forget_pending()
    ratelimit.forget_limiters()
    store.recover()
    csp.forget_frame_origins()
    health.forget_report()


@pytest.fixture(autouse=True)
def _fresh_shield_state() -> Iterator[None]:
    reset_process_state()
    yield
    reset_process_state()


def client_from(ip: str, **defaults: str) -> Client:
    """A test client whose TCP peer is ``ip`` (what gunicorn would put in REMOTE_ADDR)."""
    return Client(REMOTE_ADDR=ip, **defaults)


def ratelimits(**overrides: str) -> override_settings:
    """Override some entries of RATELIMITS (e.g. ``anonymous="3/minute"``), keeping the rest."""
    return override_settings(RATELIMITS={**settings.RATELIMITS, **overrides})


def signals(**overrides: str) -> override_settings:
    """Override some DDoS thresholds of SHIELD_SIGNALS (e.g. ``missing_paths="5/minute"``)."""
    return override_settings(SHIELD_SIGNALS={**settings.SHIELD_SIGNALS, **overrides})
