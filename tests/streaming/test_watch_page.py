"""/watch/<slug>/ as the server renders it: the player, the server switcher, the resume time."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from catalog.services import set_published
from streaming.models import Provider
from streamsite.resilience import get_breaker


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""


@dataclass
class Page(HTMLParser):
    elements: list[Element] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag not in {"link", "meta", "img", "input", "br"}:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1].tag == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def all(self, tag: str, cls: str | None = None) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and (cls is None or cls in (e.attrs.get("class") or "").split())
        ]

    def one(self, tag: str, cls: str | None = None) -> Element:
        [element] = self.all(tag, cls)
        return element


def watch(client, movie, query: str = "") -> tuple[int, Page, object]:
    response = client.get(f"/watch/{movie.slug}/{query}")
    page = Page()
    page.feed(response.content.decode())
    return response.status_code, page, response


@pytest.fixture
def two_providers(make_provider, provider_server) -> tuple[Provider, Provider]:
    primary = make_provider(
        provider_server("healthy").base_url,
        priority=10,
        name="VidKing test",
        kind=Provider.Kind.VIDKING,
        start_param="progress",
        color_param="color",
    )
    fallback = make_provider(
        provider_server("healthy").base_url,
        priority=20,
        movie_path_template="/movie/{tmdb_id}",
        start_param="startAt",
    )
    return primary, fallback


def test_the_best_source_plays_and_the_others_are_one_click_away(client, make_movie, two_providers):
    primary, fallback = two_providers
    movie = make_movie("Heat", tmdb_id=949)

    status, page, response = watch(client, movie)

    assert status == 200
    player = page.one("div", "player")
    assert player.attrs["data-movie-id"] == str(movie.pk)
    assert player.attrs["data-provider"] == primary.slug
    assert player.attrs["data-provider-origin"] == primary.base_url
    frame = page.all("iframe", "player__frame")[0]
    assert frame.attrs["data-src"] == f"{primary.base_url}/embed/movie/949?autoPlay=true"
    assert frame.attrs["allow"] == "autoplay; fullscreen; encrypted-media; picture-in-picture"
    assert "allowfullscreen" in frame.attrs
    assert frame.attrs["referrerpolicy"] == "origin"
    servers = page.all("button", "server")
    assert [s.text.strip() for s in servers] == ["Server 1", "Server 2"]
    assert [s.attrs["aria-pressed"] for s in servers] == ["true", "false"]
    assert servers[1].attrs["data-url"] == f"{fallback.base_url}/movie/949"
    assert servers[1].attrs["data-origin"] == fallback.base_url
    assert page.one("button", "btn").text.strip() == "Try next server"
    assert page.all("script")[-1].attrs["src"].endswith("js/watch.js")
    # The page may frame each provider (the CSP lists enabled providers only).
    assert primary.base_url in response["Content-Security-Policy"]
    assert fallback.base_url in response["Content-Security-Policy"]


def test_a_resume_position_reaches_each_provider_through_its_own_parameter(
    client, make_movie, two_providers
):
    primary, fallback = two_providers
    movie = make_movie(tmdb_id=603)

    _, page, _ = watch(client, movie, "?t=754")

    frame = page.all("iframe", "player__frame")[0]
    assert (
        frame.attrs["data-src"] == f"{primary.base_url}/embed/movie/603?autoPlay=true&progress=754"
    )
    assert page.all("button", "server")[1].attrs["data-url"] == (
        f"{fallback.base_url}/movie/603?startAt=754"
    )
    assert page.one("div", "player").attrs["data-start"] == "754"
    assert page.one("p", "watch__resume").text == "Resuming at 12:34."


@pytest.mark.parametrize("bad", ["-5", "abc", "1.5", "0", "86401"])
def test_an_unusable_resume_position_plays_from_the_start(bad, client, make_movie, two_providers):
    primary, _ = two_providers
    movie = make_movie(tmdb_id=603)

    status, page, _ = watch(client, movie, f"?t={bad}")

    assert status == 200
    assert page.all("iframe", "player__frame")[0].attrs["data-src"] == (
        f"{primary.base_url}/embed/movie/603?autoPlay=true"
    )
    assert page.all("p", "watch__resume") == []


def test_a_provider_with_an_open_circuit_is_not_offered(client, make_movie, two_providers):
    primary, fallback = two_providers
    for _ in range(2):
        get_breaker(primary.breaker_name).record_failure()
    movie = make_movie()

    _, page, _ = watch(client, movie)

    assert page.one("div", "player").attrs["data-provider"] == fallback.slug
    assert [s.attrs["data-provider"] for s in page.all("button", "server")] == [fallback.slug]
    assert page.all("button", "btn") == []  # nothing to move on to


def test_nothing_to_play_says_so_and_when_to_come_back(client, make_movie, two_providers):
    for provider in two_providers:
        for _ in range(2):
            get_breaker(provider.breaker_name).record_failure()
    movie = make_movie()

    status, page, response = watch(client, movie)

    assert status == 503
    assert 1 <= int(response["Retry-After"]) <= 30
    message = page.one("div", "player--empty")
    assert "Nothing can play this film right now" in message.text
    assert f"Try again in {response['Retry-After']} seconds" in message.text
    assert page.all("iframe") == []
    assert all(not s.attrs.get("src", "").endswith("watch.js") for s in page.all("script"))


def test_unknown_or_unpublished_movies_are_404(client, make_movie, make_provider):
    make_provider("https://player.example.org")
    movie = make_movie()
    set_published(movie_ids=[movie.pk], published=False)

    assert client.get(f"/watch/{movie.slug}/").status_code == 404
    assert client.get("/watch/no-such-film/").status_code == 404


def test_the_detail_pages_play_button_leads_to_the_player(client, make_movie, two_providers):
    movie = make_movie("Heat")

    response = client.get(movie.get_absolute_url())

    assert f'href="{movie.get_watch_url()}"' in response.content.decode()
    assert watch(client, movie)[0] == 200
