"""Playback quality on the editors' statistics page: per film and per source, from QoE reports,
aggregated by the database."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from catalog.models import Movie
from progress import statistics
from progress.models import PlaybackQuality, PlaybackRungTime, ViewingSession
from tests.conftest import MovieFactory

pytestmark = pytest.mark.django_db

URL = "/admin/progress/viewingsession/statistics/"


def playback(
    movie: Movie,
    source: str,
    *,
    startup_ms: int | None,
    played: dict[int, int],
    stalled_ms: int = 0,
    fatal: int = 0,
    days_ago: float = 1,
) -> PlaybackQuality:
    user = get_user_model().objects.create_user(f"fan{PlaybackQuality.objects.count()}")
    moment = timezone.now() - dt.timedelta(days=days_ago)
    session = ViewingSession.objects.create(user=user, movie=movie, started_at=moment)
    quality = PlaybackQuality.objects.create(
        session=session,
        source=source,
        startup_ms=startup_ms,
        played_ms=sum(played.values()),
        stalled_ms=stalled_ms,
        fatal_errors=fatal,
        errors=fatal,
        reports=1,
        first_reported_at=moment,
    )
    PlaybackRungTime.objects.bulk_create(
        PlaybackRungTime(quality=quality, height=height, played_ms=ms)
        for height, ms in played.items()
    )
    return quality


@pytest.fixture
def reported(make_movie: MovieFactory) -> dict[str, Any]:
    alien, heat = make_movie("Alien"), make_movie("Heat")
    playback(alien, "self-hosted", startup_ms=400, played={720: 60_000, 480: 20_000})
    playback(alien, "self-hosted", startup_ms=600, played={720: 20_000}, stalled_ms=5_000)
    playback(alien, "self-hosted", startup_ms=1_400, played={480: 20_000}, stalled_ms=15_000)
    playback(alien, "vidking", startup_ms=None, played={}, fatal=1)  # never answered
    playback(heat, "vidking", startup_ms=2_000, played={})
    playback(heat, "self-hosted", startup_ms=9_999, played={720: 1}, days_ago=40)  # too old
    return {"alien": alien, "heat": heat}


def test_quality_per_film_and_per_source(reported, django_assert_max_num_queries):
    # Per grouping (films, sources): the figures, then the time at each rung.
    with django_assert_max_num_queries(4):
        report = statistics.build_quality_report(now=timezone.now())

    alien = next(q for q in report.movies if q.label == "Alien")
    assert alien.playbacks == 4
    assert alien.median_startup_ms == 600.0  # of 400, 600 and 1400; no start-up is no figure
    assert alien.stall_ratio == round(100 * 20_000 / (120_000 + 20_000), 2)
    assert alien.rung_shares == [("720p", 66.7), ("480p", 33.3)]
    assert alien.error_rate == 25.0
    ours = next(q for q in report.sources if q.label == "self-hosted")
    theirs = next(q for q in report.sources if q.label == "vidking")
    assert (ours.playbacks, theirs.playbacks) == (3, 2)
    assert theirs.median_startup_ms == 2_000.0
    assert theirs.rung_shares == [] and theirs.error_rate == 50.0


def test_the_statistics_page_shows_quality_with_a_chart(admin_client: Client, reported):
    html = admin_client.get(URL).content.decode()

    assert "Playback quality, last 30 days" in html
    films = re.search(r'<table class="stats" id="quality-movies">(.*?)</table>', html, re.DOTALL)
    sources = re.search(r'<table class="stats" id="quality-sources">(.*?)</table>', html, re.S)
    assert films and sources
    alien = re.search(r"<th scope=\"row\">Alien</th>(.*?)</tr>", films.group(1), re.DOTALL)
    assert alien
    cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", alien.group(1), re.DOTALL)]
    assert cells == ["4", "600 ms", "14.29 %", "720p 66.7 % · 480p 33.3 %", "25.0 %"]
    # The chart: one stacked bar per source that played at a rung of our ladder.
    chart = re.search(
        r'<svg class="stats-chart" role="img" aria-labelledby="quality-chart-title".*?</svg>',
        html,
        re.S,
    )
    assert chart and chart.group(0).count("<g ") == 1
    assert "self-hosted: 720p, 66.7 % of the time played" in chart.group(0)
