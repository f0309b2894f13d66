"""Cache warming: the command, the task and the beat schedule."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from catalog import tasks, warming
from catalog.models import Movie
from streamsite import cache
from streamsite.celery import app

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(make_movie) -> list[Movie]:
    """Five movies, most popular first."""
    return [
        make_movie(title, genres=(genre,), popularity=popularity)
        for title, genre, popularity in [
            ("Alien", "Horror", 90.0),
            ("Heat", "Crime", 80.0),
            ("Brazil", "Comedy", 70.0),
            ("Ran", "Drama", 60.0),
            ("Ikiru", "Drama", 50.0),
        ]
    ]


def x_cache(client, path: str) -> str:
    return client.get(path)["X-Cache"]


def test_warm_cache_fills_home_lists_and_the_top_details_with_progress(client, catalog):
    out = io.StringIO()

    call_command("warm_cache", "--top", "3", stdout=out)

    top, rest = catalog[:3], catalog[3:]
    warmed = [
        "/",
        "/browse/",
        "/browse/?sort=newest",
        "/browse/?genre=drama",
        "/api/movies",
        "/api/movies?ordering=rating",
        "/api/movies?genre=crime",
        "/api/genres",
        *(movie.get_absolute_url() for movie in top),
        *(f"/api/movies/{movie.pk}" for movie in top),
    ]
    assert {path: x_cache(client, path) for path in warmed} == dict.fromkeys(warmed, "HIT")
    assert x_cache(client, rest[0].get_absolute_url()) == "MISS"
    assert x_cache(client, f"/api/movies/{rest[0].pk}") == "MISS"
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[ 1/") and lines[0].endswith(" 200 MISS /")
    assert any(line.endswith(f"/api/movies/{top[0].pk}") for line in lines)
    assert lines[-1].startswith("Warmed ") and lines[-1].endswith(" entries, 0 failed.")


def test_warming_rewrites_entries_that_are_still_fresh(client, catalog):
    assert "Alien" in client.get("/").content.decode()
    # A write that sends no signal (a raw bulk update): only a refresh can pick it up.
    Movie.objects.filter(pk=catalog[0].pk).update(title="Alien Resurrected")

    call_command("warm_cache", "--top", "0", verbosity=0)

    home = client.get("/")
    assert home["X-Cache"] == "HIT" and "Alien Resurrected" in home.content.decode()


def test_warming_is_not_held_back_by_visitor_rate_limits(client, catalog, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "anonymous": "2/minute"}

    call_command("warm_cache", "--top", "5", verbosity=0)

    assert x_cache(client, f"/api/movies/{catalog[-1].pk}") == "HIT"


def test_visitors_stay_rate_limited_while_and_after_the_cache_is_warmed(client, catalog, settings):
    # Tasks run inside the web process here, as in the demo: the warm must not switch the
    # shield off for the visitors that process serves meanwhile.
    settings.RATELIMITS = {**settings.RATELIMITS, "anonymous": "2/minute"}
    during: list[list[int]] = []

    def meanwhile(position: int, *progress: object) -> None:
        if position == 1:
            during.append([client.get("/api/genres").status_code for _ in range(3)])

    warming.warm_catalog(top_n=1, progress=meanwhile)

    assert during == [[200, 200, 429]]
    assert client.get("/api/genres").status_code == 429


def test_a_negative_top_is_refused():
    with pytest.raises(CommandError, match="--top must be zero or more"):
        call_command("warm_cache", "--top", "-1")


def test_the_task_warms_the_cache(client, catalog, settings):
    settings.CACHE_WARM_TOP_N = 1

    tasks.warm_cache.delay()  # eager here; tests/test_celery_wiring.py runs a real worker

    assert x_cache(client, catalog[0].get_absolute_url()) == "HIT"
    assert x_cache(client, catalog[1].get_absolute_url()) == "MISS"


def test_beat_renews_warm_entries_before_they_expire():
    entry = app.conf.beat_schedule["warm-catalog-cache"]

    assert entry["task"] == tasks.warm_cache.name
    assert entry["schedule"] < cache.ttl("catalog")
