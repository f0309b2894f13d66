"""Fixtures of the CDN tests: a Cloudflare API on 127.0.0.1, settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cdn import cloudflare
from tests.cdn.cloudflare import FakeCloudflare

EDGE = "https://cdn.example.org"


@pytest.fixture
def fast_retries(settings) -> None:
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    settings.CIRCUIT_RESET_SECONDS = 30.0
    settings.CIRCUIT_BREAKERS_ENABLED = True
    settings.CDN_PURGE_BACKOFF_BASE = 0.5
    settings.CDN_PURGE_BACKOFF_CAP = 1.0
    settings.CDN_PURGE_DELAY = 0.0


@pytest.fixture
def cloudflare_api(settings, fast_retries) -> Iterator[FakeCloudflare]:
    """Cloudflare's API on 127.0.0.1, and the settings of a site behind Cloudflare."""
    api = cloudflare.start()
    settings.CDN_PROVIDER = "cloudflare"
    settings.CDN_BASE_URL = EDGE
    settings.CLOUDFLARE_ZONE_ID = cloudflare.ZONE_ID
    settings.CLOUDFLARE_API_TOKEN = cloudflare.TOKEN
    settings.CLOUDFLARE_API_URL = api.api_url
    settings.CDN_S_MAXAGE = 86_400
    try:
        yield api
    finally:
        api.server.stop()
