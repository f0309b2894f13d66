"""Provider adapters: player URLs, search through TMDb, the self-hosted stub, a real worker."""

from __future__ import annotations

import time

import pytest
from pytest_httpserver import HTTPServer

from streaming import tasks
from streaming.models import Provider
from streaming.providers import adapter_for, self_hosted
from streaming.providers.base import SourceUnavailable
from streamsite.celery import app
from streamsite.resilience import get_breaker
from tests.test_celery_wiring import broker, celery_worker  # noqa: F401 - fixture reused


@pytest.fixture
def tmdb(settings, httpserver: HTTPServer) -> HTTPServer:
    settings.TMDB_API_URL = httpserver.url_for("/3")
    settings.TMDB_API_KEY = "test-key"
    settings.TMDB_READ_TOKEN = ""
    return httpserver


@pytest.fixture
def worker_broker(broker):  # noqa: F811 - the fixture imported above
    """``broker`` with a fresh producer pool too: an eager ``apply_async`` earlier in the session
    leaves one bound to the previous broker, and ``delay()`` would publish there."""
    saved = app.amqp._producer_pool
    app.amqp._producer_pool = None
    yield broker
    app.amqp._producer_pool = saved


def test_vidking_has_no_search_api_so_search_goes_through_tmdb(tmdb, make_provider):
    tmdb.expect_request(
        "/3/search/movie",
        query_string={
            "query": "heat",
            "page": "1",
            "include_adult": "false",
            "api_key": "test-key",
        },
    ).respond_with_json(
        {
            "page": 1,
            "results": [
                {"id": 949, "title": "Heat", "release_date": "1995-12-15", "genre_ids": [28]},
                {"id": 11660, "title": "Heat", "release_date": "", "genre_ids": []},
            ],
            "total_pages": 1,
            "total_results": 2,
        }
    )
    vidking = make_provider(
        "https://www.vidking.net", kind=Provider.Kind.VIDKING, start_param="progress"
    )

    hits = adapter_for(vidking).search("heat")

    assert [(hit.tmdb_id, hit.title, hit.year, hit.url) for hit in hits] == [
        (949, "Heat", 1995, "https://www.vidking.net/embed/movie/949?autoPlay=true"),
        (11660, "Heat", None, "https://www.vidking.net/embed/movie/11660?autoPlay=true"),
    ]


def test_player_urls_follow_the_row_without_touching_the_network(make_provider, make_movie):
    movie = make_movie(tmdb_id=550)
    vidking = make_provider(
        "https://www.vidking.net",
        kind=Provider.Kind.VIDKING,
        start_param="progress",
        color_param="color",
        extra_params={"autoPlay": "false"},
    )
    template = make_provider(
        "https://player.example.org", movie_path_template="/movie/{tmdb_id}", start_param="startAt"
    )

    # An editor's explicit autoPlay wins over the adapter's default.
    assert adapter_for(vidking).embed_url(movie, start=3725, color="#E50914") == (
        "https://www.vidking.net/embed/movie/550?autoPlay=false&color=e50914&progress=3725"
    )
    assert adapter_for(template).embed_url(movie, start=0, color="abc") == (
        "https://player.example.org/movie/550"
    )
    assert adapter_for(template).embed_url(movie, start=42) == (
        "https://player.example.org/movie/550?startAt=42"
    )


def test_self_hosted_video_offers_nothing_until_uploads_exist(make_movie):
    movie = make_movie()
    hls = self_hosted()

    assert hls.sources(movie) == []
    assert hls.search("anything") == []
    assert hls.status().playable
    with pytest.raises(SourceUnavailable):
        hls.embed_url(movie)


def test_a_real_worker_runs_the_scheduled_probe_and_feeds_the_shared_breaker(
    transactional_db,
    worker_broker,
    make_provider,
    provider_server,
):
    up = make_provider(provider_server("healthy").base_url)
    down = make_provider(provider_server("failing").base_url)

    with celery_worker(worker_broker.url) as worker:
        tasks.probe_providers.delay()

        deadline = time.monotonic() + 90
        while Provider.objects.filter(last_probe_at=None).exists():
            assert worker.process.poll() is None, worker.process.communicate()[0]
            assert time.monotonic() < deadline, "the worker did not probe the providers"
            time.sleep(0.2)

    assert "Task streaming.tasks.probe_provider[" in worker.output
    up.refresh_from_db()
    down.refresh_from_db()
    assert (up.last_probe_ok, down.last_probe_ok) == (True, False)
    # The worker's failure is counted in Redis, where every web process reads it.
    assert get_breaker(down.breaker_name).snapshot()["failures"] == 1
    assert get_breaker(up.breaker_name).snapshot()["failures"] == 0
