"""Viewers' failure reports: a probe of the provider now, at most one per interval, and never a
breaker failure by themselves."""

from __future__ import annotations

import pytest

from streaming.models import Provider
from streaming.providers.base import circuit_status
from streamsite import resilience

pytestmark = pytest.mark.django_db(transaction=True)


def report(api_client, provider: Provider | str, body: dict | None = None):
    slug = provider if isinstance(provider, str) else provider.slug
    return api_client.post(
        f"/api/streaming/providers/{slug}/failures",
        {"reason": "no_answer"} if body is None else body,
        format="json",
    )


def test_a_report_probes_the_provider_now_and_a_crowd_of_them_once(
    api_client, make_provider, provider_server
):
    server = provider_server("healthy")
    provider = make_provider(server.base_url)

    first = report(api_client, provider)
    crowd = [report(api_client, provider).json()["probe"] for _ in range(20)]

    assert first.status_code == 202
    assert first.json() == {"probe": "queued"}
    assert set(crowd) == {"recent"}
    assert server.requests.count("/health") == 1
    provider.refresh_from_db()
    assert provider.last_probe_ok is True


def test_reports_alone_never_open_a_circuit(api_client, make_provider, provider_server, settings):
    # Two failures open a circuit here (tests/streaming/conftest.py); twenty clients saying
    # a healthy provider failed cost it one probe, which it passes.
    assert settings.CIRCUIT_FAILURE_THRESHOLD == 2
    healthy = make_provider(provider_server("healthy").base_url)
    for _ in range(20):
        assert report(api_client, healthy).status_code == 202

    assert circuit_status(healthy.breaker_name).circuit == resilience.CLOSED
    # A provider that really is down fails the probe, and that failure counts, as every
    # probe's does; the reports around it add nothing.
    down = make_provider(provider_server("refused").base_url)
    for _ in range(20):
        report(api_client, down, {"reason": "error"})
    down.refresh_from_db()
    assert down.last_probe_ok is False
    assert circuit_status(down.breaker_name).circuit == resilience.CLOSED


def test_reports_name_an_enabled_provider_and_a_reason(api_client, make_provider):
    disabled = make_provider("https://player.example.org", enabled=False)

    assert report(api_client, "nobody").status_code == 404
    assert report(api_client, disabled).status_code == 404
    wrong = report(api_client, "nobody", {"reason": "bored"})
    extra = report(api_client, "nobody", {"reason": "error", "why": "x"})

    assert wrong.status_code == 400 and wrong.json()["fields"].keys() == {"reason"}
    assert extra.status_code == 400 and extra.json()["fields"].keys() == {"why"}
