"""The CDN settings: a bad combination stops start-up with a message naming the variable."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

SETTINGS = Path(__file__).resolve().parents[2] / "streamsite" / "settings.py"
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
CLEARED = (
    "CDN_PROVIDER",
    "CDN_BASE_URL",
    "CLOUDFLARE_ZONE_ID",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_API_URL",
    "CDN_NGINX_PURGE_URL",
    "CDN_PURGE_BATCH_SIZE",
    "CDN_S_MAXAGE",
    "CDN_PURGE_DELAY",
    "STREAMSITE_ENV",
)


def load(monkeypatch, **env: str) -> dict[str, object]:
    """The settings module as start-up runs it, with this environment."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CDN_PROVIDER": "akamai"}, "CDN_PROVIDER"),
        ({"CDN_PROVIDER": "cloudflare"}, "CDN_BASE_URL"),
        ({"CDN_BASE_URL": "cdn.example.org"}, "CDN_BASE_URL"),
        ({"CDN_BASE_URL": "https://cdn.example.org/static"}, "CDN_BASE_URL"),
        (
            {"CDN_PROVIDER": "cloudflare", "CDN_BASE_URL": "https://cdn.example.org"},
            "CLOUDFLARE_ZONE_ID",
        ),
        (
            {
                "CDN_PROVIDER": "cloudflare",
                "CDN_BASE_URL": "https://cdn.example.org",
                "CLOUDFLARE_ZONE_ID": ZONE,
            },
            "CLOUDFLARE_API_TOKEN",
        ),
        (
            {
                "CDN_PROVIDER": "cloudflare",
                "CDN_BASE_URL": "https://cdn.example.org",
                "CLOUDFLARE_ZONE_ID": ZONE,
                "CLOUDFLARE_API_TOKEN": "t",
                "CLOUDFLARE_API_URL": "api.cloudflare.com",
            },
            "CLOUDFLARE_API_URL",
        ),
        (
            {
                "CDN_PROVIDER": "cloudflare",
                "CDN_BASE_URL": "https://cdn.example.org",
                "CLOUDFLARE_ZONE_ID": ZONE,
                "CLOUDFLARE_API_TOKEN": "t",
                "CDN_PURGE_BATCH_SIZE": "500",
            },
            "CDN_PURGE_BATCH_SIZE",
        ),
        ({"CLOUDFLARE_API_TOKEN": "t"}, "CLOUDFLARE_API_TOKEN"),
        (
            {"CDN_PROVIDER": "nginx", "CDN_BASE_URL": "https://cdn.example.org"},
            "CDN_NGINX_PURGE_URL",
        ),
    ],
)
def test_a_bad_combination_stops_start_up_naming_the_variable(monkeypatch, env, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        load(monkeypatch, **env)


def test_nginx_edge_needs_redis_for_its_tag_map(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)

    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        load(
            monkeypatch,
            CDN_PROVIDER="nginx",
            CDN_BASE_URL="https://cdn.example.org",
            CDN_NGINX_PURGE_URL="http://edge:8081",
        )


def test_nothing_set_is_no_cdn_and_edge_lifetimes_as_browsers_get(monkeypatch):
    loaded = load(monkeypatch)

    assert loaded["CDN_PROVIDER"] == "none"
    assert loaded["CDN_BASE_URL"] == ""
    assert loaded["CLOUDFLARE_API_URL"] == "https://api.cloudflare.com/client/v4"
    # Nothing would purge a shared cache: it keeps answers as long as browsers do.
    assert loaded["CDN_S_MAXAGE"] == loaded["CACHE_TTLS"]["http"]


def test_cloudflare_settings_are_accepted_and_the_edge_keeps_answers_a_day(monkeypatch):
    loaded = load(
        monkeypatch,
        CDN_PROVIDER="cloudflare",
        CDN_BASE_URL="https://cdn.example.org/",
        CLOUDFLARE_ZONE_ID=ZONE,
        CLOUDFLARE_API_TOKEN="token",
    )

    assert loaded["CDN_BASE_URL"] == "https://cdn.example.org"
    assert loaded["CDN_S_MAXAGE"] == 86_400
    assert loaded["CDN_PURGE_BATCH_SIZE"] == 100
    assert loaded["CLOUDFLARE_PURGE_PER_MINUTE"] == 5.0  # the free plan's budget
