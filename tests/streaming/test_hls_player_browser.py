"""Our own HLS on the watch page, in real headless Chromium: hls.js playing a ladder made by the
real pipeline (ffmpeg), its quality and subtitle menus, resuming, and moving on to an embed
(a real provider server on 127.0.0.1) when our segments cannot be had."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from playwright.sync_api import Page, expect

from catalog.models import Movie
from progress import buffer
from streaming.models import Provider
from videos.models import VideoAsset

pytestmark = pytest.mark.browser

SECONDS = 20
ENGLISH = "WEBVTT\n\n00:00:00.000 --> 00:01:00.000\nHello from the test\n"
FRENCH = "WEBVTT\n\n00:00:00.000 --> 00:01:00.000\nBonjour du test\n"
VIDEO = "document.querySelector('#player video')"


@pytest.fixture
def ladder(settings: Any) -> None:
    # Two tiny rungs with short segments: enough segments ahead to see a rung change.
    settings.VIDEO_LADDER = [360, 240]
    settings.VIDEO_SEGMENT_SECONDS = 2
    settings.VIDEO_X264_PRESET = "ultrafast"


@pytest.fixture
def film(make_movie: Callable[..., Movie], make_ready_asset: Callable[..., VideoAsset], ladder):
    movie = make_movie("Heat", tmdb_id=949)
    asset = make_ready_asset(
        movie,
        seconds=SECONDS,
        size="640x360",
        rate=12,
        subtitles={"en": ("English", ENGLISH), "fr": ("Français", FRENCH)},
    )
    return movie, asset


@pytest.fixture
def fallback(make_provider, provider_server) -> Provider:
    """An embed provider ranked after our own HLS: Server 2."""
    return make_provider(provider_server("healthy", title="Fallback").base_url, priority=10)


def eventually(page: Page, condition: Callable[[], Any], message: str, timeout: float = 30) -> Any:
    """Poll ``condition``; waiting through Playwright lets it serve the page meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, message
        page.wait_for_timeout(100)


def until(page: Page, expression: str) -> Any:
    """Like wait_for_function, which the page's CSP (no eval) would refuse."""
    return eventually(page, lambda: page.evaluate(expression), f"never true: {expression}")


def plays(page: Page) -> None:
    """The <video> on screen is playing: its time moves on."""
    start = page.evaluate(f"{VIDEO}.currentTime")
    until(page, f"{VIDEO} && !{VIDEO}.paused && {VIDEO}.currentTime > {start} + 0.5")


def start_playing(page: Page) -> None:
    # Autoplay may be refused until the viewer has used the page; a click counts as using it.
    page.locator("#player video").click(position={"x": 5, "y": 5})
    page.evaluate(f"{VIDEO}.play()")


def segment_requests(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url) if ".ts" in request.url else None)
    return urls


def sign_in(page: Page, user: AbstractBaseUser, base_url: str) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": base_url}])


def test_our_hls_plays_with_hlsjs_and_switches_to_an_embed_and_back(
    film, fallback, browser_page: Page, browser_record
):
    movie, asset = film
    page = browser_page

    page.goto(f"/watch/{movie.slug}/")

    player = page.locator("#player")
    expect(player).to_have_attribute("data-kind", "hls")
    expect(player).to_have_attribute("data-provider", "self-hosted")
    expect(page.get_by_role("button", name="Server 1", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    until(page, f"{VIDEO} && {VIDEO}.readyState >= 2")
    expect(player).to_have_attribute("data-state", "playing")
    # Media Source Extensions fed by hls.js, not the browser's own HLS.
    assert page.evaluate(f"{VIDEO}.src").startswith("blob:")
    assert page.evaluate("Hls.version") == "1.7.4"
    start_playing(page)
    plays(page)
    assert any(url.endswith("/master.m3u8") for url in browser_record.request_urls)

    page.evaluate(f"{VIDEO}.currentTime = 5.4")
    expect(player).to_have_attribute("data-position", re.compile(r"^5\.[4-9]"))

    # To the embed, which starts where the viewer was, through its own start parameter.
    page.get_by_role("button", name="Server 2", exact=True).click()
    expect(player).to_have_attribute("data-kind", "embed")
    expect(page.locator("iframe.player__frame")).to_have_attribute(
        "src", f"{fallback.base_url}/embed/movie/949?startAt=5"
    )
    expect(page.frame_locator("iframe.player__frame").locator("#player")).to_have_text(
        "Fallback player"
    )
    expect(page.locator("#player video")).to_have_count(0)
    expect(page.get_by_role("button", name="Quality:")).to_be_hidden()

    # And back: our HLS again, from there too.
    page.get_by_role("button", name="Server 1", exact=True).click()
    expect(player).to_have_attribute("data-kind", "hls")
    expect(page.locator("iframe.player__frame")).to_have_count(0)
    until(page, f"{VIDEO} && {VIDEO}.readyState >= 1 && Math.abs({VIDEO}.currentTime - 5) < 1")
    start_playing(page)
    plays(page)

    assert browser_record.console_errors == []
    assert browser_record.failed_responses == []
    assert browser_record.offsite_requests() == []


def test_choosing_a_rung_fetches_its_segments_and_is_remembered(
    film, browser_page: Page, browser_record
):
    movie, asset = film
    page = browser_page
    segments = segment_requests(page)
    page.goto(f"/watch/{movie.slug}/")
    quality = page.get_by_role("button", name="Quality:")
    # In Auto the button says which rung Auto is playing.
    expect(quality).to_have_text(re.compile(r"Quality: Auto \((360|240)p\)"))
    auto_rung = quality.inner_text().split("(")[1].rstrip(")")
    other = "240p" if auto_rung == "360p" else "360p"
    page.evaluate(f"{VIDEO}.pause()")  # the rest of the film is still to be fetched
    before = len(segments)

    # Keyboard only: open, walk down to the other rung, choose it.
    quality.focus()
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu", name="Quality")
    expect(menu).to_be_visible()
    expect(page.get_by_role("menuitemradio", name="Auto")).to_be_focused()
    expect(page.get_by_role("menuitemradio", name="Auto")).to_have_attribute("aria-checked", "true")
    page.keyboard.press("Escape")  # closes, back on the button
    expect(menu).to_be_hidden()
    expect(quality).to_be_focused()
    page.keyboard.press("ArrowDown")  # opens on the first item
    expect(page.get_by_role("menuitemradio", name="Auto")).to_be_focused()
    while page.evaluate("document.activeElement.textContent") != other:
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")

    expect(menu).to_be_hidden()
    expect(quality).to_have_text(f"Quality: {other}")
    expect(page.get_by_role("menuitemradio", name=other, include_hidden=True)).to_have_attribute(
        "aria-checked", "true"
    )
    eventually(
        page,
        lambda: any(f"/{other}/" in url for url in segments[before:]),
        f"no {other} segment fetched after choosing it: {segments[before:]}",
    )

    # Remembered on this device: the next page plays that rung from its first segment on.
    segments.clear()
    page.reload()
    expect(quality).to_have_text(f"Quality: {other}")
    until(page, f"{VIDEO} && {VIDEO}.readyState >= 2")
    assert segments and all(f"/{other}/" in url for url in segments), segments
    assert browser_record.console_errors == []


def test_a_chosen_subtitle_track_shows_its_cues_and_is_remembered(
    film, browser_page: Page, browser_record
):
    movie, asset = film
    page = browser_page
    page.goto(f"/watch/{movie.slug}/")
    subtitles = page.get_by_role("button", name="Subtitles:")
    expect(subtitles).to_have_text("Subtitles: Off")
    until(page, f"{VIDEO} && {VIDEO}.readyState >= 2")
    modes = f"Array.from({VIDEO}.textTracks).map(t => t.language + ':' + t.mode).join(' ')"
    assert page.evaluate(modes) == "en:disabled fr:disabled"  # off until chosen
    start_playing(page)  # Chromium picks the active cues as the film plays

    subtitles.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitemradio", name="Off")).to_be_focused()
    page.keyboard.press("End")
    expect(page.get_by_role("menuitemradio", name="Français")).to_be_focused()
    page.keyboard.press(" ")

    expect(subtitles).to_have_text("Subtitles: Français")
    expect(subtitles).to_be_focused()
    assert page.evaluate(modes) == "en:disabled fr:showing"
    active_cue = (
        f"(() => {{ const t = Array.from({VIDEO}.textTracks).find(t => t.mode === 'showing');"
        " return t && t.activeCues && t.activeCues.length ? t.activeCues[0].text : ''; })()"
    )
    assert until(page, active_cue) == "Bonjour du test"

    page.reload()
    expect(subtitles).to_have_text("Subtitles: Français")
    until(page, f"{VIDEO} && {VIDEO}.readyState >= 2")
    start_playing(page)
    assert page.evaluate(modes) == "en:disabled fr:showing"
    assert until(page, active_cue) == "Bonjour du test"
    assert browser_record.console_errors == []
    assert browser_record.failed_responses == []


def test_a_signed_in_viewer_resumes_where_they_stopped_after_a_reload(
    film, settings, live_server, browser_page: Page, browser_record
):
    settings.PROGRESS_MIN_RESUME_SECONDS = 1
    movie, asset = film
    viewer = get_user_model().objects.create_user("viewer", password="correct horse battery")
    page = browser_page
    sign_in(page, viewer, live_server.url)
    page.goto(f"/watch/{movie.slug}/")
    until(page, f"{VIDEO} && {VIDEO}.readyState >= 2")
    start_playing(page)
    plays(page)

    page.evaluate(f"(() => {{ const v = {VIDEO}; v.pause(); v.currentTime = 7; }})()")
    eventually(
        page,
        lambda: (
            (p := buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk)) and p.position == 7.0
        ),
        "the seek to 7 s never reached the server",
    )

    page.reload()
    expect(page.locator(".watch__resume")).to_have_text("Resuming at 0:07.")
    until(page, f"{VIDEO} && {VIDEO}.readyState >= 1 && Math.abs({VIDEO}.currentTime - 7) < 1")
    assert browser_record.console_errors == []
    assert browser_record.failed_responses == []


def test_when_our_segments_cannot_be_had_the_page_moves_to_the_next_server(
    film, fallback, settings, browser_page: Page
):
    # Long enough that only hls.js giving up, not the load timeout, can move the page on.
    settings.WATCH_SOURCE_TIMEOUT = 60
    movie, asset = film
    for segment in Path(asset.directory).rglob("*.ts"):
        segment.unlink()
    page = browser_page

    page.goto(f"/watch/{movie.slug}/")

    expect(page.get_by_role("status")).to_have_text(
        "Server 1 could not play the film; now playing Server 2."
    )
    player = page.locator("#player")
    expect(player).to_have_attribute("data-kind", "embed")
    expect(player).to_have_attribute("data-provider", fallback.slug)
    expect(page.get_by_role("button", name="Server 2", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.frame_locator("iframe.player__frame").locator("#player")).to_have_text(
        "Fallback player"
    )
    expect(page.locator("#player video")).to_have_count(0)
