"""The purge queue against Cloudflare's API on 127.0.0.1: after commit, batched, coalesced,
within the budget, retried after refusals, and nothing dropped while the API is down."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.db import transaction

from catalog.edge import LIST_VIEW_TAGS
from catalog.models import Genre
from cdn import services
from cdn.models import CdnPurge, QueuedPurge
from cdn.tasks import drain_purge_queue
from streamsite.resilience import get_breaker
from tests.cdn.conftest import EDGE
from tests.cdn.test_urls import jpeg
from tests.conftest import closed_port


class Clock:
    """A clock the test moves: the budget and the backoff run on it, nothing sleeps."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    import time

    return Clock(time.time())


@pytest.mark.django_db
def test_a_movie_change_is_purged_by_its_tags_once_committed(
    cloudflare_api, make_movie, django_capture_on_commit_callbacks
):
    heat = make_movie("Heat")

    with django_capture_on_commit_callbacks() as callbacks:
        heat.title = "Heat (director's cut)"
        heat.save()
        assert not QueuedPurge.objects.exists()  # not before the commit

    assert cloudflare_api.requests == 0
    for callback in callbacks:  # the commit
        callback()

    assert set(cloudflare_api.purged("tags")) == {f"movie-{heat.pk}", *LIST_VIEW_TAGS}
    assert not QueuedPurge.objects.exists()
    log = CdnPurge.objects.get()
    assert log.status == CdnPurge.Status.DONE
    assert log.http_status == 200 and log.answer.startswith("success")
    assert f"movie {heat.pk}" in log.reason and log.queue_length == 0


@pytest.mark.django_db
def test_a_rolled_back_change_purges_nothing(
    cloudflare_api, make_movie, django_capture_on_commit_callbacks
):
    heat = make_movie("Heat")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            heat.title = "Never"
            heat.save()
            raise RuntimeError("the editor's save failed")

    assert callbacks == []
    assert cloudflare_api.requests == 0


@pytest.mark.django_db
def test_a_genre_change_purges_its_tag_and_the_lists(
    cloudflare_api, genre, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        genre.name = "Sci-Fi"
        genre.save()

    assert set(cloudflare_api.purged("tags")) == {f"genre-{genre.pk}", *LIST_VIEW_TAGS}


@pytest.mark.django_db
def test_replaced_artwork_is_purged_by_url(
    cloudflare_api, settings, tmp_path, make_movie, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    heat = make_movie("Heat")
    heat.poster_file.save("first.jpg", ContentFile(jpeg()), save=True)
    old = heat.poster_file.name

    with django_capture_on_commit_callbacks(execute=True):
        heat.poster_file.save("second.jpg", ContentFile(jpeg(colour="red")), save=True)

    # Purging the original purges every size Cloudflare made of it.
    assert cloudflare_api.purged("files") == [f"{EDGE}/media/{old}"]


@pytest.mark.django_db
def test_purges_go_in_batches_of_at_most_100_and_repeats_coalesce(cloudflare_api, clock):
    tags = [f"movie-{n}" for n in range(250)]
    services.queue(tags=tags, now=clock())
    services.queue(tags=tags[:50], urls=[f"{EDGE}/"], now=clock())  # queued again while waiting

    assert QueuedPurge.objects.count() == 251
    result = services.drain(clock=clock)

    sizes = [len(purge.items) for purge in cloudflare_api.purges]
    assert sorted(sizes) == [1, 50, 100, 100]
    assert result.requests == 4 and result.remaining == 0
    assert sorted(cloudflare_api.purged("tags")) == sorted(tags)
    assert cloudflare_api.purged("files") == [f"{EDGE}/"]


@pytest.mark.django_db
def test_the_free_plans_budget_is_never_exceeded(cloudflare_api, settings, clock):
    settings.CLOUDFLARE_PURGE_PER_MINUTE, settings.CLOUDFLARE_PURGE_BURST = 5, 25
    cloudflare_api.per_minute, cloudflare_api.burst, cloudflare_api.clock = 5, 25, clock
    cloudflare_api._tokens, cloudflare_api._at = 25.0, clock()
    services.queue(tags=[f"movie-{n}" for n in range(2_800)], now=clock())

    first = services.drain(clock=clock)
    assert first.requests == 25  # the burst
    assert first.wait == pytest.approx(12.0)  # then one every 60 / 5 s
    while QueuedPurge.objects.exists():
        clock.advance(services.drain(clock=clock).wait or 0.0)

    assert cloudflare_api.requests == 28  # the fewest 2,800 tags allow, none refused
    assert not CdnPurge.objects.exclude(status=CdnPurge.Status.DONE).exists()


@pytest.mark.django_db
def test_429_keeps_the_batch_queued_until_retry_after(cloudflare_api, clock):
    services.queue(tags=["movie-1", "movie-2"], now=clock())
    cloudflare_api.fail_next(
        429, (971, "Please wait and consider throttling your request speed"), retry_after=30
    )

    refused = services.drain(clock=clock)

    assert (refused.requests, refused.refused, refused.remaining) == (1, 1, 2)
    assert refused.wait == 30
    log = CdnPurge.objects.get()
    assert log.status == CdnPurge.Status.RETRYING and log.http_status == 429
    assert "971" in log.answer and log.retry_after == 30 and log.queue_length == 2

    clock.advance(29)
    assert services.drain(clock=clock).requests == 0  # not before it said
    clock.advance(1)
    assert services.drain(clock=clock).purged == 2
    assert sorted(cloudflare_api.purged("tags")) == ["movie-1", "movie-2"]


@pytest.mark.django_db
def test_success_false_is_a_refusal_that_is_retried_after_a_backoff(cloudflare_api, clock):
    services.queue(urls=[f"{EDGE}/movies/heat/"], now=clock())
    cloudflare_api.fail_next(400, (1012, "Request must contain one of files, tags"))

    refused = services.drain(clock=clock)

    assert refused.refused == 1 and QueuedPurge.objects.get().attempts == 1
    log = CdnPurge.objects.get()
    assert log.answer == "1012: Request must contain one of files, tags"
    assert 0 <= refused.wait <= 0.5  # full jitter under the first step
    clock.advance(1.0)
    assert services.drain(clock=clock).purged == 1


@pytest.mark.django_db
def test_nothing_is_dropped_while_the_api_is_down(cloudflare_api, settings, clock):
    settings.CIRCUIT_RESET_SECONDS = 60.0
    working = settings.CLOUDFLARE_API_URL
    settings.CLOUDFLARE_API_URL = f"http://127.0.0.1:{closed_port()}/client/v4"
    services.queue(tags=["movie-1"], urls=[f"{EDGE}/"], now=clock())

    for _ in range(3):  # refused connections open the circuit (threshold 3)
        services.drain(clock=clock)
        clock.advance(5)
    assert get_breaker("cdn:cloudflare").state() == "open"
    blocked = services.drain(clock=clock)  # fails fast: nothing sent, nothing charged

    assert blocked.requests == 0 and blocked.remaining == 2
    assert QueuedPurge.objects.count() == 2
    assert CdnPurge.objects.filter(status=CdnPurge.Status.FAILED).count() == 3

    settings.CLOUDFLARE_API_URL = working  # back up (and the circuit's reset has passed)
    settings.CIRCUIT_RESET_SECONDS = 0.001
    clock.advance(5)
    drain_purge_queue()  # as the beat runs it, on the real clock: the backoff has passed
    while QueuedPurge.objects.exists():
        clock.advance(2)
        services.drain(clock=clock)

    assert cloudflare_api.purged("tags") == ["movie-1"]
    assert cloudflare_api.purged("files") == [f"{EDGE}/"]


@pytest.mark.django_db
def test_purge_everything_goes_first_and_covers_what_waits(cloudflare_api, clock):
    services.queue(tags=["movie-1"], now=clock())
    services.queue(everything=True, now=clock())

    result = services.drain(clock=clock)

    assert result.requests == 1 and result.remaining == 0
    assert [purge.kind for purge in cloudflare_api.purges] == ["everything"]


@pytest.mark.django_db
def test_without_a_provider_nothing_is_queued(settings, genre, django_capture_on_commit_callbacks):
    settings.CDN_PROVIDER = "none"

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        Genre.objects.filter(pk=genre.pk).first().save()

    assert not QueuedPurge.objects.exists()
    assert services.drain().requests == 0
    assert callbacks == [] or all(callback() is None for callback in callbacks)


@pytest.mark.django_db
def test_a_video_made_ready_purges_its_live_playlist_urls_and_its_movie(
    cloudflare_api, settings, make_movie, django_capture_on_commit_callbacks
):
    from videos.models import Rendition, Subtitle, VideoAsset

    settings.HLS_URL_BUCKET, settings.HLS_URL_LIFETIME = 3600, 21600
    heat = make_movie("Heat")
    asset = VideoAsset.objects.create(movie=heat, source="2026/01/heat.mp4")
    Rendition.objects.create(
        asset=asset, width=1280, height=720, bandwidth=1, average_bandwidth=1,
        codecs="avc1", playlist="720p/index.m3u8",
    )  # fmt: skip
    Subtitle.objects.create(asset=asset, language="en", label="English")

    with django_capture_on_commit_callbacks(execute=True):
        asset.status, asset.master_playlist = VideoAsset.Status.READY, "master.m3u8"
        asset.thumbnails = "thumbnails.vtt"
        asset.save()

    files = cloudflare_api.purged("files")
    names = {url.rsplit(f"/{asset.pk}/", 1)[1] for url in files}
    assert names == {"master.m3u8", "720p/index.m3u8", "subtitles/en.vtt", "thumbnails.vtt"}
    assert all(url.startswith(f"{EDGE}/hls/") for url in files)
    # One URL per expiry a viewer may hold now: 21600 / 3600 buckets, and the partial one.
    assert len(files) == 4 * 7
    assert f"movie-{heat.pk}" in cloudflare_api.purged("tags")


@pytest.mark.django_db
def test_manage_py_cdn_purge_waits_until_the_provider_took_it(cloudflare_api):
    from django.core.management import call_command

    call_command("cdn_purge", "--everything", "--tag", "movie-1")

    assert [purge.kind for purge in cloudflare_api.purges] == ["everything"]
    assert not QueuedPurge.objects.exists()
