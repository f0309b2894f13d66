"""/watch/<slug>/ as the server renders it: the player, the server switcher, the resume time."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.utils import timezone

from catalog.services import set_published
from streaming.models import Provider
from streamsite.resilience import get_breaker
from videos import signing
from videos.models import Subtitle, VideoAsset


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
        if tag not in {"link", "meta", "img", "input", "br", "track", "source"}:
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
    # How the page knows each plays: VidKing's first PLAYER_EVENT; the other posts nothing, so
    # its page load is trusted. Each is given its row's timeout, or WATCH_SOURCE_TIMEOUT.
    assert servers[0].attrs["data-ready-message"] == "PLAYER_EVENT"
    assert "data-ready-message" not in servers[1].attrs
    assert [s.attrs["data-timeout"] for s in servers] == ["8.0", "8.0"]
    assert servers[0].attrs["data-report-url"] == (
        f"/api/streaming/providers/{primary.slug}/failures"
    )
    assert page.one("button", "btn--secondary").text.strip() == "Try next server"
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
    assert page.all("button", "btn--secondary") == []  # nothing to move on to


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


@pytest.fixture
def self_hosted(make_movie):
    """A movie with a ready upload and two subtitle tracks (rows only: nothing is played)."""
    movie = make_movie("Heat", tmdb_id=949)
    asset = VideoAsset.objects.create(
        movie=movie,
        status=VideoAsset.Status.READY,
        master_playlist="master.m3u8",
        thumbnails="thumbnails.vtt",
        ready_at=timezone.now(),
    )
    Subtitle.objects.create(asset=asset, language="en", label="English")
    Subtitle.objects.create(asset=asset, language="fr", label="Français")
    return movie, asset


def signed(url: str, asset: VideoAsset, filename: str) -> bool:
    """``url`` is a live signed link to ``filename`` of the asset."""
    prefix, sig, expires, asset_id, rest = url.split("/", 5)[1:]
    return (prefix, asset_id, rest) == ("hls", str(asset.pk), filename) and signing.is_valid(
        sig, int(expires), asset.pk
    )


def test_our_own_hls_is_server_1_with_its_signed_playlist_and_subtitle_tracks(
    client, self_hosted, two_providers
):
    movie, asset = self_hosted
    primary, fallback = two_providers

    status, page, response = watch(client, movie, "?t=754")

    assert status == 200
    player = page.one("div", "player")
    assert (player.attrs["data-kind"], player.attrs["data-provider"]) == ("hls", "self-hosted")
    assert player.attrs["data-provider-origin"] == ""  # no postMessage is trusted for it
    assert player.attrs["data-start"] == "754"  # the player seeks there itself
    servers = page.all("button", "server")
    assert [s.attrs["data-kind"] for s in servers] == ["hls", "embed", "embed"]
    assert signed(servers[0].attrs["data-url"], asset, "master.m3u8")
    assert "data-start-param" not in servers[0].attrs
    # Fetched while hls.js loads, in the mode hls.js's own request has, so it is reused.
    [preload] = [link for link in page.all("link") if link.attrs.get("rel") == "preload"]
    assert preload.attrs["href"] == servers[0].attrs["data-url"]
    assert (preload.attrs["as"], preload.attrs["crossorigin"]) == ("fetch", "anonymous")
    assert servers[1].attrs["data-start-param"] == "progress"
    # The embeds' iframe waits, ready for a switch, with the first embed's URL.
    frame = page.all("iframe", "player__frame")[0]
    assert (
        frame.attrs["data-src"] == f"{primary.base_url}/embed/movie/949?autoPlay=true&progress=754"
    )
    # The <video> watch.js plays: subtitle tracks, none on by default.
    [video, fallback_video] = page.all("video", "player__video")  # the second in <noscript>
    tracks = page.all("track")
    assert [(t.attrs["srclang"], t.attrs["label"]) for t in tracks[:2]] == [
        ("en", "English"),
        ("fr", "Français"),
    ]
    assert all(t.attrs["kind"] == "subtitles" and "default" not in t.attrs for t in tracks)
    assert signed(tracks[0].attrs["src"], asset, "subtitles/en.vtt")
    assert signed(fallback_video.attrs["src"], asset, "master.m3u8")
    assert "controls" in video.attrs and "playsinline" in video.attrs
    # The menus, hidden until our HLS is on screen.
    menus = {m.attrs["data-menu"]: m for m in page.all("div", "menu")}
    assert set(menus) == {"quality", "subtitles"}
    assert all("hidden" in menu.attrs for menu in menus.values())
    items = [li.text.strip() for li in page.all("li", "menu__item")]
    assert items == ["Off", "English", "Français"]
    # hls.js (vendored) before the scripts that use it; the seek bar and its track.
    scripts = [s.attrs["src"] for s in page.all("script") if s.attrs.get("src")]
    assert [src.rsplit("/", 1)[-1] for src in scripts[-4:]] == [
        "hls.min.js",
        "seekbar.js",
        "player.js",
        "watch.js",
    ]
    assert "/vendor/hls.js/" in scripts[-4]
    seek_bar = page.one("div", "seekbar")
    assert "hidden" in seek_bar.attrs
    assert signed(page.all("button", "server")[0].attrs["data-thumbnails"], asset, "thumbnails.vtt")


def test_a_page_with_embeds_only_loads_neither_hlsjs_nor_a_video(client, make_movie, two_providers):
    movie = make_movie("Heat")

    _, page, _ = watch(client, movie)

    assert page.all("video") == [] and page.all("template") == []
    assert not any(link.attrs.get("rel") == "preload" for link in page.all("link"))
    assert page.all("div", "menu") == []
    assert not any("hls" in (s.attrs.get("src") or "") for s in page.all("script"))
    assert [s.attrs["data-kind"] for s in page.all("button", "server")] == ["embed", "embed"]


def test_the_vendored_hlsjs_is_the_release_package_json_pins():
    root = Path(__file__).resolve().parents[2]
    pinned = json.loads((root / "package.json").read_text())["dependencies"]["hls.js"]
    vendored = (root / "static" / "vendor" / "hls.js" / "hls.min.js").read_text()

    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned)  # exact, so `make vendor` is reproducible
    assert f'"{pinned}"' in vendored
    assert (root / "static" / "vendor" / "hls.js" / "LICENSE").read_text().startswith("Copyright")
