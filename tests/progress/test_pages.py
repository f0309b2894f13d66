"""Watch progress on the pages: the home page's "Continue watching" row, the detail page's
Resume / Play / Watch again, and where the watch page starts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from django.utils import timezone

from catalog.models import Movie
from progress import services
from streaming.models import Provider
from tests.conftest import MovieFactory
from tests.streaming.conftest import fast_breakers, make_provider  # noqa: F401 - fixtures
from tests.streaming.test_watch_page import Page

pytestmark = pytest.mark.django_db


def watched(
    user: AbstractBaseUser, movie: Movie, position: float, duration: float = 7200.0
) -> None:
    services.record_heartbeat(
        user_id=user.pk,
        movie_id=movie.pk,
        position=position,
        duration=duration,
        event="pause",
        client_ts=timezone.now(),
    )


@pytest.fixture
def signed_in(viewer: AbstractBaseUser) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


# --- Home ---------------------------------------------------------------------------------


def continue_row(client: Client) -> str | None:
    html = client.get("/").content.decode()
    match = re.search(r'<section class="row continue".*?</section>', html, re.DOTALL)
    return match.group(0) if match else None


def test_home_shows_continue_watching_with_progress_and_a_remove_button(
    signed_in: Client, viewer: AbstractBaseUser, make_movie: MovieFactory
) -> None:
    alien = make_movie("Alien", runtime=117)
    heat = make_movie("Heat", runtime=170)
    watched(viewer, alien, 2530.0)
    watched(viewer, heat, 600.0, duration=10200.0)

    row = continue_row(signed_in)

    assert row is not None
    page = parse(row)
    assert page.one("h2").text == "Continue watching"
    cards = page.all("a", "card")
    assert [card.attrs["href"] for card in cards] == [heat.get_watch_url(), alien.get_watch_url()]
    assert "Resume at 42:10" in row
    fills = [e.attrs["style"] for e in page.all("span", "continue__fill")]
    assert fills == ["width: 6%", "width: 35%"]
    buttons = page.all("button", "continue__remove")
    assert buttons[1].attrs["data-remove-url"] == f"/api/streaming/progress/{alien.pk}"
    assert buttons[1].attrs["aria-label"] == "Remove Alien from Continue watching"
    assert page.all("script")[0].attrs["src"].endswith("js/continue_watching.js")


def test_finished_and_barely_started_movies_are_not_in_the_row(
    signed_in: Client, viewer: AbstractBaseUser, make_movie: MovieFactory
) -> None:
    watched(viewer, make_movie("Finished"), 7000.0)  # over 90 %
    watched(viewer, make_movie("Credits"), 6600.0, duration=6700.0)  # last 2 minutes
    watched(viewer, make_movie("Trailer only"), 20.0)  # under 30 s
    watched(viewer, make_movie("Halfway"), 3600.0)

    row = continue_row(signed_in)

    assert row is not None
    assert [card.text.strip().split("\n")[0] for card in parse(row).all("span", "card__title")] == [
        "Halfway"
    ]


def test_anonymous_viewers_and_viewers_without_progress_get_no_row(
    client: Client, signed_in: Client, other_viewer: AbstractBaseUser, movie: Movie
) -> None:
    watched(other_viewer, movie, 2530.0)

    assert continue_row(client) is None
    assert continue_row(signed_in) is None  # someone else's progress is not ours


# --- Detail ---------------------------------------------------------------------------------


def play_actions(client: Client, movie: Movie) -> list[tuple[str, str]]:
    html = client.get(movie.get_absolute_url()).content.decode()
    actions = re.search(r'<div class="actions detail__actions">.*?</div>', html, re.DOTALL)
    assert actions
    page = parse(actions.group(0))
    return [
        (" ".join(link.text.split()), link.attrs["href"] or "")
        for link in page.all("a", "btn")
        # Not the IMDb link, nor "My list" (a visitor's is a link to sign in).
        if "imdb" not in (link.attrs["href"] or "")
        and not (link.attrs["href"] or "").startswith("/accounts/login/")
    ]


def test_detail_offers_to_resume_where_the_viewer_stopped(
    signed_in: Client, viewer: AbstractBaseUser, movie: Movie
) -> None:
    watched(viewer, movie, 2530.0)

    assert play_actions(signed_in, movie) == [
        (f"Resume at 42:10 {movie.title}", movie.get_watch_url()),
        (f"Play from the start of {movie.title}", f"{movie.get_watch_url()}?t=0"),
    ]


def test_detail_offers_to_watch_a_finished_movie_again(
    signed_in: Client, viewer: AbstractBaseUser, movie: Movie
) -> None:
    watched(viewer, movie, 7100.0)

    assert play_actions(signed_in, movie) == [(f"Watch again {movie.title}", movie.get_watch_url())]


@pytest.mark.parametrize("position", [None, 12.0])
def test_detail_says_play_without_a_resume_point(
    signed_in: Client, viewer: AbstractBaseUser, movie: Movie, position: float | None
) -> None:
    if position is not None:
        watched(viewer, movie, position)

    assert play_actions(signed_in, movie) == [(f"Play {movie.title}", movie.get_watch_url())]


def test_detail_for_anonymous_viewers_says_play(client: Client, movie: Movie) -> None:
    assert play_actions(client, movie) == [(f"Play {movie.title}", movie.get_watch_url())]


def test_resume_point_shown_after_a_flush_comes_from_the_database(
    signed_in: Client, viewer: AbstractBaseUser, movie: Movie
) -> None:
    watched(viewer, movie, 3725.0)
    services.flush_buffer()

    assert play_actions(signed_in, movie)[0][0] == f"Resume at 1:02:05 {movie.title}"


# --- Watch page -------------------------------------------------------------------------------


@pytest.fixture
def vidking(make_provider: Any) -> Provider:  # noqa: F811 - the fixture imported above
    return make_provider(
        "https://player.example.org", kind=Provider.Kind.VIDKING, start_param="progress"
    )


def player(client: Client, movie: Movie, query: str = "") -> tuple[Page, dict[str, Any]]:
    response = client.get(f"/watch/{movie.slug}/{query}")
    assert response.status_code == 200
    page = parse(response.content.decode())
    return page, page.one("div", "player").attrs


def test_watch_page_resumes_at_the_saved_position(
    signed_in: Client, viewer: AbstractBaseUser, movie: Movie, vidking: Provider
) -> None:
    watched(viewer, movie, 2530.4)

    page, attrs = player(signed_in, movie)

    assert attrs["data-start"] == "2530"
    assert "progress=2530" in page.all("iframe", "player__frame")[0].attrs["data-src"]
    assert page.one("p", "watch__resume").text.strip() == "Resuming at 42:10."


def test_watch_page_plays_from_the_start_when_asked_or_finished(
    signed_in: Client, viewer: AbstractBaseUser, make_movie: MovieFactory, vidking: Provider
) -> None:
    started, finished = make_movie("Started"), make_movie("Finished")
    watched(viewer, started, 2530.0)
    watched(viewer, finished, 7150.0)

    for movie, query in ((started, "?t=0"), (finished, "")):
        page, attrs = player(signed_in, movie, query)
        assert "data-start" not in attrs
        assert "progress=" not in page.all("iframe", "player__frame")[0].attrs["data-src"]


def test_watch_page_hands_the_progress_endpoints_to_the_player_script(
    signed_in: Client, client: Client, movie: Movie, vidking: Provider
) -> None:
    page, attrs = player(signed_in, movie)
    anonymous_page, anonymous = player(client, movie)

    assert attrs["data-progress-url"] == f"/api/streaming/progress/{movie.pk}"
    assert attrs["data-session-url"] == "/api/streaming/sessions"
    assert attrs["data-csrf-token"]
    scripts = [s.attrs["src"] for s in page.all("script")]
    assert any(src.endswith("js/player.js") for src in scripts)
    assert "data-progress-url" not in anonymous  # nothing to save for anonymous viewers
    assert "data-csrf-token" not in anonymous


def test_an_explicit_start_time_wins_over_the_saved_position(
    signed_in: Client, viewer: AbstractBaseUser, movie: Movie, vidking: Provider
) -> None:
    watched(viewer, movie, 2530.0)

    _, attrs = player(signed_in, movie, "?t=90")

    assert attrs["data-start"] == "90"


def test_resume_position_service_ignores_stale_and_anonymous(
    viewer: AbstractBaseUser, movie: Movie
) -> None:
    assert services.resume_position(user_id=None, movie_id=movie.pk) == 0.0
    assert services.resume_position(user_id=viewer.pk, movie_id=movie.pk) == 0.0
    now = timezone.now()
    services.record_heartbeat(
        user_id=viewer.pk, movie_id=movie.pk, position=900.0, duration=7200.0,
        event="heartbeat", client_ts=now,
    )  # fmt: skip
    services.record_heartbeat(
        user_id=viewer.pk, movie_id=movie.pk, position=10.0, duration=7200.0,
        event="heartbeat", client_ts=now - dt.timedelta(seconds=5),
    )  # fmt: skip
    assert services.resume_position(user_id=viewer.pk, movie_id=movie.pk) == 900.0
