"""Provider adapters: player URLs, the self-hosted stub, a real worker."""

from __future__ import annotations

import time

import pytest

from streaming import tasks
from streaming.models import Provider
from streaming.providers import adapter_for, self_hosted
from streamsite.celery import app
from streamsite.resilience import get_breaker
from tests.test_celery_wiring import broker, celery_worker  # noqa: F401 - fixture reused


@pytest.fixture
def worker_broker(broker):  # noqa: F811 - the fixture imported above
    """``broker`` with a fresh producer pool too: an eager ``apply_async`` earlier in the session
    leaves one bound to the previous broker, and ``delay()`` would publish there."""
    saved = app.amqp._producer_pool
    app.amqp._producer_pool = None
    yield broker
    app.amqp._producer_pool = saved


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

    [vidking_source] = adapter_for(vidking).sources(movie)
    [template_source] = adapter_for(template).sources(movie)

    # An editor's explicit autoPlay wins over the adapter's default.
    assert vidking_source.url(start=3725, color="#E50914") == (
        "https://www.vidking.net/embed/movie/550?autoPlay=false&color=e50914&progress=3725"
    )
    assert template_source.url(start=0, color="abc") == "https://player.example.org/movie/550"
    assert template_source.url(start=42) == "https://player.example.org/movie/550?startAt=42"


def test_self_hosted_video_offers_nothing_until_uploads_exist(make_movie):
    assert self_hosted().sources(make_movie()) == []


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
