"""Our own HLS among the sources: first when ready, signed per answer, playing when every embed
provider is down."""

from __future__ import annotations

from urllib.parse import urljoin

import m3u8
import pytest

from streamsite.resilience import get_breaker


def sources(client, movie) -> tuple[int, dict]:
    response = client.get(f"/api/streaming/sources/{movie.pk}")
    return response.status_code, response.json()


def fetch(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def ready_movie(make_movie, make_ready_asset, make_provider, provider_server):
    make_provider(provider_server("healthy").base_url, priority=10)
    movie = make_movie("Heat")
    make_ready_asset(movie, seconds=4)
    return movie


def test_a_ready_upload_is_the_first_source_and_its_signed_url_plays(api_client, ready_movie):
    status, body = sources(api_client, ready_movie)

    assert status == 200
    first = body["sources"][0]
    assert (first["provider"], first["kind"], first["circuit"]) == ("self-hosted", "hls", "closed")
    assert [s["kind"] for s in body["sources"]] == ["hls", "embed"]
    # Everything the player will ask for opens under the one signed prefix.
    master = m3u8.loads(fetch(api_client, first["url"]).decode())
    variant_url = urljoin(first["url"], master.playlists[0].uri)
    media = m3u8.loads(fetch(api_client, variant_url).decode())
    segment = fetch(api_client, urljoin(variant_url, media.segments[0].uri))
    assert segment[:1] == b"\x47"  # an MPEG-TS sync byte
    thumbnails_url = urljoin(first["url"], "thumbnails.vtt")
    sprite = fetch(api_client, urljoin(thumbnails_url, "thumbnails/sprite_000.jpg"))
    assert sprite[:2] == b"\xff\xd8"  # the seek previews open under the same signature


def test_urls_are_signed_when_the_answer_is_built_not_cached_with_the_list(
    api_client, ready_movie, settings, django_assert_num_queries
):
    _, first = sources(api_client, ready_movie)
    settings.HLS_SIGNING_KEY = "rotated"

    with django_assert_num_queries(0):  # the source list itself comes from the cache
        _, second = sources(api_client, ready_movie)

    assert second["sources"][0]["url"] != first["sources"][0]["url"]
    assert api_client.get(first["sources"][0]["url"]).status_code == 403  # old key: refused
    assert api_client.get(second["sources"][0]["url"]).status_code == 200


def test_the_self_hosted_source_plays_when_every_embed_circuit_is_open(
    api_client, make_movie, make_ready_asset, make_provider, provider_server, settings
):
    provider = make_provider(provider_server("failing").base_url, priority=10)
    movie = make_movie("Heat")
    make_ready_asset(movie, seconds=4)
    breaker = get_breaker(provider.breaker_name)
    for _ in range(settings.CIRCUIT_FAILURE_THRESHOLD):
        breaker.record_failure()

    status, body = sources(api_client, movie)

    assert status == 200
    assert [s["provider"] for s in body["sources"]] == ["self-hosted"]
    assert [s["provider"] for s in body["skipped"]] == [provider.slug]


def test_an_upload_becoming_ready_reaches_cached_sources(
    api_client, make_movie, make_ready_asset, make_provider, provider_server,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    make_provider(provider_server("healthy").base_url, priority=10)
    movie = make_movie("Heat")
    _, before = sources(api_client, movie)  # cached without any upload

    with django_capture_on_commit_callbacks(execute=True):
        make_ready_asset(movie, seconds=4)
    _, after = sources(api_client, movie)

    assert [s["kind"] for s in before["sources"]] == ["embed"]
    assert [s["kind"] for s in after["sources"]] == ["hls", "embed"]
