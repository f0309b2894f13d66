"""The watch page in real headless Chromium, with real provider servers on 127.0.0.1."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from streaming.models import Provider
from tests.conftest_browser import SCREENSHOT_DIR

pytestmark = pytest.mark.browser


def test_player_moves_past_a_server_that_never_loads_and_back_when_asked(
    settings, make_movie, make_provider, provider_server, browser_page, browser_record
):
    settings.WATCH_SOURCE_TIMEOUT = 1.5
    hanging = provider_server("hanging", title="Server one")
    working = provider_server("healthy", title="Server two")
    primary = make_provider(
        hanging.base_url, priority=10, kind=Provider.Kind.VIDKING, start_param="progress"
    )
    fallback = make_provider(working.base_url, priority=20)
    movie = make_movie("Heat", tmdb_id=949)
    page = browser_page

    page.goto(f"/watch/{movie.slug}/?t=90")
    history_length = page.evaluate("history.length")

    server_1 = page.get_by_role("button", name="Server 1")
    server_2 = page.get_by_role("button", name="Server 2")
    player = page.locator("#player")
    frame = page.locator("iframe.player__frame")
    # Server 1 is tried first, never answers, and the page moves on by itself.
    expect(server_2).to_have_attribute("aria-pressed", "true")
    expect(server_1).to_have_attribute("aria-pressed", "false")
    expect(frame).to_have_attribute("src", f"{working.base_url}/embed/movie/949?startAt=90")
    expect(page.frame_locator("iframe.player__frame").locator("#player")).to_have_text(
        "Server two player"
    )
    expect(player).to_have_attribute("data-state", "playing")
    expect(player).to_have_attribute("data-provider", fallback.slug)
    expect(player).to_have_attribute("data-provider-origin", working.base_url)
    expect(page.get_by_role("status")).to_have_text(
        "Server 1 did not answer; switched to Server 2."
    )
    assert "/embed/movie/949?autoPlay=true&progress=90" in hanging.requests
    # Not the `screenshot` fixture: it waits for the network to go idle, and the whole point
    # here is a server that never answers.
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "watch-fallback-1280.png"), full_page=True)

    # The viewer goes back to Server 1 on purpose: it stays, and the page says it is slow.
    server_1.click()
    expect(server_1).to_have_attribute("aria-pressed", "true")
    expect(server_2).to_have_attribute("aria-pressed", "false")
    expect(frame).to_have_attribute("src", re.compile(rf"^{re.escape(hanging.base_url)}/"))
    expect(player).to_have_attribute("data-provider", primary.slug)
    expect(page.get_by_role("status")).to_have_text(
        "Server 1 is slow to answer. Wait, or try another server."
    )
    expect(server_1).to_have_attribute("aria-pressed", "true")

    page.get_by_role("button", name="Try next server").click()
    expect(server_2).to_have_attribute("aria-pressed", "true")
    expect(player).to_have_attribute("data-state", "playing")
    # One iframe at a time, and the tab's history is not filled with servers.
    expect(page.locator("iframe.player__frame")).to_have_count(1)
    assert page.evaluate("history.length") == history_length

    assert browser_record.console_errors == []
    assert browser_record.offsite_requests() == []


def test_nothing_to_play_shows_a_message_instead_of_a_player(
    make_movie, make_provider, browser_page, screenshot
):
    make_provider("https://player.example.org", enabled=False)
    movie = make_movie("Heat")
    page = browser_page

    response = page.goto(f"/watch/{movie.slug}/")

    assert response is not None and response.status == 503
    expect(page.get_by_role("alert")).to_contain_text("Nothing can play this film right now")
    expect(page.get_by_role("alert")).to_contain_text("No streaming server is set up")
    expect(page.get_by_role("link", name="Back to the film")).to_be_visible()
    expect(page.locator("iframe")).to_have_count(0)
    screenshot(page, "watch-unavailable")
