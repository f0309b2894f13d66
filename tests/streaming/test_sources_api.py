"""GET /api/streaming/sources/<id> and /embed/<id> against real provider servers on 127.0.0.1.

Providers are found healthy or dead the way production finds out: the health probe task GETs
each provider's health page through its circuit breaker (or, with SOURCES_LIVE_CHECK, the
request itself checks). Circuit state lives in the suite's Redis.
"""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY

from catalog.services import set_published
from streaming import tasks
from streaming.models import Provider
from streamsite import cache
from streamsite.resilience import get_breaker
from tests.streaming.conftest import BROKEN_TIMEOUT

FAILURES = ["failing", "hanging", "refused", "garbage", "junk"]


@pytest.fixture
def probe_all(django_capture_on_commit_callbacks):
    """Run one round of the beat schedule's health probe (tasks run eagerly in the suite)."""

    def probe() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.probe_providers.delay()

    return probe


def sources_of(client, movie) -> tuple[int, dict]:
    response = client.get(f"/api/streaming/sources/{movie.pk}")
    return response.status_code, response.json()


def order(body: dict, key: str = "sources") -> list[str]:
    return [source["provider"] for source in body[key]]


def vidking_like(make_provider, base_url: str, **fields) -> Provider:
    return make_provider(
        base_url,
        kind=Provider.Kind.VIDKING,
        start_param="progress",
        color_param="color",
        extra_params={"color": "e50914"},
        **fields,
    )


# --- Success and ranking ------------------------------------------------------------------


def test_healthy_primary_comes_first_with_its_player_url(
    api_client, make_movie, make_provider, provider_server, probe_all
):
    primary = vidking_like(make_provider, provider_server("healthy").base_url, priority=10)
    fallback = make_provider(provider_server("healthy").base_url, priority=20)
    movie = make_movie("Heat", tmdb_id=949)
    probe_all()

    status, body = sources_of(api_client, movie)

    assert status == 200
    assert body["movie"] == {"id": movie.pk, "tmdb_id": 949, "slug": "heat", "title": "Heat"}
    assert order(body) == [primary.slug, fallback.slug]
    first = body["sources"][0]
    assert first["url"] == f"{primary.base_url}/embed/movie/949?autoPlay=true&color=e50914"
    assert first["kind"] == "embed"
    assert first["priority"] == 10
    assert first["origin"] == primary.base_url
    assert first["circuit"] == "closed"
    assert first["health"]["ok"] is True
    assert first["supports_start"] is True
    assert body["skipped"] == []


def test_providers_are_ranked_by_priority_and_disabled_ones_are_left_out(
    api_client, make_movie, make_provider, provider_server
):
    base = provider_server("healthy").base_url
    third = make_provider(base, priority=30)
    first = make_provider(base, priority=5)
    second = make_provider(base, priority=20)
    make_provider(base, priority=1, enabled=False)
    movie = make_movie()

    _, body = sources_of(api_client, movie)

    assert order(body) == [first.slug, second.slug, third.slug]


@pytest.mark.parametrize("state", FAILURES)
def test_viewers_get_the_fallback_once_probes_find_the_primary_down(
    state, api_client, make_movie, make_provider, provider_server, probe_all
):
    primary = vidking_like(
        make_provider, provider_server(state).base_url, priority=10, timeout_seconds=BROKEN_TIMEOUT
    )
    fallback = make_provider(provider_server("healthy").base_url, priority=20)
    movie = make_movie()

    probe_all()
    probe_all()  # CIRCUIT_FAILURE_THRESHOLD is 2 in these tests

    status, body = sources_of(api_client, movie)
    assert status == 200
    assert order(body) == [fallback.slug]
    [skipped] = body["skipped"]
    assert skipped["provider"] == primary.slug
    assert skipped["circuit"] == "open"
    assert 0 < skipped["retry_after"] <= 30
    primary.refresh_from_db()
    assert primary.last_probe_ok is False
    assert primary.last_probe_at is not None


def test_what_each_failed_probe_says_is_readable_by_an_operator(
    make_provider, provider_server, probe_all
):
    expected = {
        "failing": "HTTP 503",
        "hanging": "no answer within 0.5s",
        "refused": "Connection refused",
        "garbage": "HTTP 200 but not HTML (application/octet-stream)",
        "junk": "the answer was not HTTP",
    }
    providers = {
        state: make_provider(provider_server(state).base_url, timeout_seconds=BROKEN_TIMEOUT)
        for state in expected
    }

    probe_all()

    for state, provider in providers.items():
        provider.refresh_from_db()
        assert provider.last_probe_ok is False, state
        assert expected[state] in provider.last_probe, (state, provider.last_probe)


@pytest.mark.parametrize("state", FAILURES)
def test_live_check_moves_past_a_dead_primary_within_the_request(
    state, settings, api_client, make_movie, make_provider, provider_server
):
    settings.SOURCES_LIVE_CHECK = True
    primary = vidking_like(
        make_provider, provider_server(state).base_url, priority=10, timeout_seconds=BROKEN_TIMEOUT
    )
    fallback_server = provider_server("healthy")
    fallback = make_provider(fallback_server.base_url, priority=20)
    movie = make_movie()

    status, body = sources_of(api_client, movie)

    assert status == 200
    assert order(body) == [fallback.slug]
    assert order(body, "skipped") == [primary.slug]
    assert body["skipped"][0]["health"]["ok"] is False
    assert fallback_server.requests == ["/health"]


def test_an_open_circuit_is_skipped_without_contacting_the_provider(
    api_client, make_movie, make_provider, provider_server
):
    primary_server = provider_server("healthy")
    primary = make_provider(primary_server.base_url, priority=10)
    fallback = make_provider(provider_server("healthy").base_url, priority=20)
    movie = make_movie()
    breaker = get_breaker(primary.breaker_name)
    for _ in range(2):
        breaker.record_failure()

    _, body = sources_of(api_client, movie)

    assert order(body) == [fallback.slug]
    assert order(body, "skipped") == [primary.slug]
    assert primary_server.requests == []


def test_a_recovered_provider_returns_after_one_good_probe(
    settings, api_client, make_movie, make_provider, provider_server, probe_all
):
    settings.CIRCUIT_RESET_SECONDS = 0.2
    flaky = provider_server("failing")
    primary = make_provider(flaky.base_url, priority=10)
    fallback = make_provider(provider_server("healthy").base_url, priority=20)
    movie = make_movie()
    probe_all()
    probe_all()
    assert get_breaker(primary.breaker_name).state() in {"open", "half_open"}

    flaky.state = "healthy"
    time.sleep(0.3)  # past the reset timeout: the next probe is the half-open probe
    probe_all()

    assert get_breaker(primary.breaker_name).state() == "closed"
    _, body = sources_of(api_client, movie)
    assert order(body) == [primary.slug, fallback.slug]


def test_all_providers_down_is_a_503_with_retry_after(
    api_client, make_movie, make_provider, provider_server, probe_all
):
    make_provider(provider_server("failing").base_url, priority=10)
    make_provider(provider_server("refused").base_url, priority=20)
    movie = make_movie()
    probe_all()
    probe_all()

    response = api_client.get(f"/api/streaming/sources/{movie.pk}")

    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "no_sources"
    assert "try again in" in body["detail"]
    assert 1 <= int(response["Retry-After"]) <= 30
    assert body["retry_after"] == int(response["Retry-After"])
    assert len(body["skipped"]) == 2


def test_no_enabled_provider_is_a_503_saying_so(api_client, make_movie, make_provider):
    make_provider("https://player.example.org", enabled=False)
    movie = make_movie()

    response = api_client.get(f"/api/streaming/sources/{movie.pk}")

    assert response.status_code == 503
    assert response.json()["detail"] == "No streaming provider is enabled."
    assert response["Retry-After"]


def test_with_the_database_unreachable_stale_sources_are_served_and_marked(
    api_client, make_movie, make_provider, provider_server, database_unreachable
):
    make_provider(provider_server("healthy").base_url)
    movie = make_movie()
    paths = [f"/api/streaming/sources/{movie.pk}", f"/api/streaming/embed/{movie.pk}"]
    fresh = {path: api_client.get(path) for path in paths}
    assert [response["X-Cache"] for response in fresh.values()] == ["MISS", "HIT"]
    assert not any("degraded" in response.json() for response in fresh.values())
    cache.bump("sources")  # an editor's change landed just before the database went away

    database_unreachable()

    for path in paths:
        response = api_client.get(path)
        assert response.status_code == 200, path
        assert response["X-Cache"] == "STALE", path
        body = response.json()
        assert body.pop("degraded") is True, path
        assert body == fresh[path].json(), path  # the same sources, said to be old


# --- Caching ------------------------------------------------------------------------------


def test_sources_cost_three_queries_however_many_providers_then_none_from_cache(
    api_client, make_movie, make_provider, provider_server, django_assert_num_queries
):
    server = provider_server("healthy")
    for priority in range(5):
        make_provider(server.base_url, priority=priority)
    movie = make_movie()

    with django_assert_num_queries(3):  # the movie, its self-hosted video, the providers
        first = api_client.get(f"/api/streaming/sources/{movie.pk}")
    with django_assert_num_queries(0):
        second = api_client.get(f"/api/streaming/sources/{movie.pk}")

    assert second.json() == first.json()
    assert server.requests == []  # resolving never calls a provider


def test_editing_a_provider_reaches_the_next_request(
    api_client, make_movie, make_provider, provider_server, django_capture_on_commit_callbacks
):
    base = provider_server("healthy").base_url
    first = make_provider(base, priority=10)
    second = make_provider(base, priority=20)
    movie = make_movie()
    assert order(sources_of(api_client, movie)[1]) == [first.slug, second.slug]

    # Each edit commits (the cache moves on at commit: tests/streaming/test_invalidation.py).
    with django_capture_on_commit_callbacks(execute=True):
        second.priority = 1
        second.save()
    assert order(sources_of(api_client, movie)[1]) == [second.slug, first.slug]

    with django_capture_on_commit_callbacks(execute=True):
        first.enabled = False
        first.save(update_fields=["enabled"])
    assert order(sources_of(api_client, movie)[1]) == [second.slug]

    with django_capture_on_commit_callbacks(execute=True):
        second.delete()
    assert sources_of(api_client, movie)[0] == 503


def test_health_probes_do_not_empty_the_cache(
    api_client, make_movie, make_provider, provider_server, probe_all, django_assert_num_queries
):
    make_provider(provider_server("healthy").base_url)
    movie = make_movie()
    sources_of(api_client, movie)

    probe_all()

    with django_assert_num_queries(0):
        assert sources_of(api_client, movie)[0] == 200


def test_an_unpublished_movie_has_no_sources(
    api_client, make_movie, make_provider, django_capture_on_commit_callbacks
):
    make_provider("https://player.example.org")
    movie = make_movie()
    assert sources_of(api_client, movie)[0] == 200

    with django_capture_on_commit_callbacks(execute=True):  # cached sources drop at commit
        set_published(movie_ids=[movie.pk], published=False)

    status, body = sources_of(api_client, movie)
    assert status == 404
    assert body["error"] == "not_found"


def test_unknown_movie_is_a_404_in_the_shared_error_shape(api_client, db):
    for path in ("/api/streaming/sources/999999", "/api/streaming/embed/999999"):
        response = api_client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


# --- Embed ----------------------------------------------------------------------------------


def test_embed_passes_start_and_colour_through_each_providers_own_parameters(
    api_client, make_movie, make_provider, provider_server
):
    primary = vidking_like(make_provider, provider_server("healthy").base_url, priority=10)
    fallback = make_provider(provider_server("healthy").base_url, priority=20)
    movie = make_movie(tmdb_id=603)

    response = api_client.get(
        f"/api/streaming/embed/{movie.pk}", {"start": "754", "color": "#0A84FF"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["source"]["provider"] == primary.slug
    assert body["source"]["url"] == (
        f"{primary.base_url}/embed/movie/603?autoPlay=true&color=0a84ff&progress=754"
    )
    # The fallback has no colour parameter; it takes the start time as startAt.
    assert [(f["provider"], f["url"]) for f in body["fallbacks"]] == [
        (fallback.slug, f"{fallback.base_url}/embed/movie/603?startAt=754")
    ]


def test_embed_of_a_chosen_provider_lists_the_others_as_fallbacks(
    api_client, make_movie, make_provider, provider_server
):
    primary = make_provider(provider_server("healthy").base_url, priority=10)
    chosen = make_provider(
        provider_server("healthy").base_url, priority=20, movie_path_template="/movie/{tmdb_id}"
    )
    movie = make_movie(tmdb_id=680)

    body = api_client.get(
        f"/api/streaming/embed/{movie.pk}", {"provider": chosen.slug, "color": "f00"}
    ).json()

    assert body["source"]["url"] == f"{chosen.base_url}/movie/680"
    assert [f["provider"] for f in body["fallbacks"]] == [primary.slug]


def test_embed_with_every_provider_down_is_a_503(
    api_client, make_movie, make_provider, provider_server, probe_all
):
    make_provider(provider_server("failing").base_url)
    movie = make_movie()
    probe_all()
    probe_all()

    response = api_client.get(f"/api/streaming/embed/{movie.pk}", {"start": "60"})

    assert response.status_code == 503
    assert response.json()["error"] == "no_sources"
    assert int(response["Retry-After"]) >= 1


def test_embed_of_a_provider_nobody_enabled_is_a_404_naming_it(
    api_client, make_movie, make_provider
):
    make_provider("https://player.example.org")
    movie = make_movie()

    response = api_client.get(f"/api/streaming/embed/{movie.pk}", {"provider": "no-such"})

    assert response.status_code == 404
    assert response.json()["detail"].startswith("provider:")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("start", "-1"),
        ("start", "1.5"),
        ("start", "ninety"),
        ("start", "86401"),
        ("color", "red"),
        ("color", "12345"),
        ("color", "#12"),
        ("strat", "90"),
    ],
)
def test_bad_embed_parameters_are_400s_naming_the_parameter(
    name, value, api_client, make_movie, make_provider
):
    make_provider("https://player.example.org")
    movie = make_movie()

    response = api_client.get(f"/api/streaming/embed/{movie.pk}", {name: value})

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert list(body["fields"]) == [name]
    assert body["detail"].startswith(f"{name}: ")


# --- Monitoring -----------------------------------------------------------------------------


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def test_probe_outcomes_latency_and_circuit_state_are_exported(
    make_provider, provider_server, probe_all
):
    up = make_provider(provider_server("healthy").base_url)
    down = make_provider(provider_server("failing").base_url)
    before = {
        "ok": sample("streamsite_provider_requests_total", provider=up.slug, outcome="ok"),
        "5xx": sample(
            "streamsite_provider_requests_total", provider=down.slug, outcome="server_error"
        ),
        "open": sample(
            "streamsite_provider_requests_total", provider=down.slug, outcome="circuit_open"
        ),
        "timed": sample("streamsite_provider_request_seconds_count", provider=up.slug),
    }

    for _ in range(3):
        probe_all()

    assert sample("streamsite_provider_requests_total", provider=up.slug, outcome="ok") == (
        before["ok"] + 3
    )
    assert sample(
        "streamsite_provider_requests_total", provider=down.slug, outcome="server_error"
    ) == (before["5xx"] + 2)
    # The third probe found the circuit open and sent nothing.
    assert sample(
        "streamsite_provider_requests_total", provider=down.slug, outcome="circuit_open"
    ) == (before["open"] + 1)
    assert sample("streamsite_provider_request_seconds_count", provider=up.slug) == (
        before["timed"] + 3
    )
    assert sample("streamsite_circuit_state", provider=down.slug) == 2
    assert sample("streamsite_circuit_state", provider=up.slug) == 0


def test_probes_are_on_the_beat_schedule():
    from streamsite.celery import app

    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "streaming.tasks.probe_providers" in scheduled
    assert "streaming.tasks.probe_providers" in app.tasks


def test_responses_have_the_shape_the_api_documentation_promises(
    api_client,
    make_movie,
    make_provider,
    provider_server,
    probe_all,
    django_capture_on_commit_callbacks,
):
    from streaming.api import (
        EmbedSerializer,
        HealthSerializer,
        MovieRefSerializer,
        NoSourcesSerializer,
        SourceListSerializer,
        SourceSerializer,
    )

    def fields(serializer: type) -> set[str]:
        return set(serializer().fields) - {"degraded"}  # there only when served stale

    make_provider(provider_server("healthy").base_url, priority=10)
    dying = make_provider(provider_server("failing").base_url, priority=20)
    movie = make_movie()
    probe_all()
    probe_all()

    listing = api_client.get(f"/api/streaming/sources/{movie.pk}").json()
    embed = api_client.get(f"/api/streaming/embed/{movie.pk}").json()
    assert set(listing) == fields(SourceListSerializer)
    assert set(embed) == fields(EmbedSerializer)
    assert set(listing["movie"]) == fields(MovieRefSerializer)
    for source in [*listing["sources"], *listing["skipped"], embed["source"]]:
        assert set(source) == fields(SourceSerializer)
        assert set(source["health"]) == fields(HealthSerializer)
    assert listing["sources"][0]["health"]["checked_at"].endswith("Z")

    with django_capture_on_commit_callbacks(execute=True):  # cached sources drop at commit
        dying.delete()
        Provider.objects.update(enabled=False)
        for provider in Provider.objects.all():
            provider.save()  # through save(), so cached sources are dropped
    assert set(api_client.get(f"/api/streaming/sources/{movie.pk}").json()) == (
        fields(NoSourcesSerializer)
    )
