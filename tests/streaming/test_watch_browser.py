"""The watch page in real headless Chromium, with real provider servers on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from prometheus_client import REGISTRY

from streaming.models import Provider
from tests.conftest_browser import MOBILE
from tests.streaming.conftest import BROKEN_TIMEOUT, PLAYER_EVENT_SCRIPT

pytestmark = pytest.mark.browser


def notices(page: Page) -> Callable[[], list[str]]:
    """Everything the player's status says from now on, in order (it may change quickly)."""
    page.evaluate(
        """() => {
          const status = document.getElementById("player-status");
          window.seenNotices = [];
          new MutationObserver(() => window.seenNotices.push(status.textContent))
            .observe(status, {childList: true, characterData: true, subtree: true});
        }"""
    )
    return lambda: page.evaluate("window.seenNotices")


def inside(page: Page, selector: str, container: str = "#player") -> bool:
    """``selector`` is drawn within ``container`` and within the viewport."""
    box = page.locator(selector).bounding_box()
    outer = page.locator(container).bounding_box()
    viewport = page.viewport_size
    assert box and outer and viewport
    return (
        box["x"] >= outer["x"] - 0.5
        and box["y"] >= outer["y"] - 0.5
        and box["x"] + box["width"] <= outer["x"] + outer["width"] + 0.5
        and box["y"] + box["height"] <= outer["y"] + outer["height"] + 0.5
        and box["y"] + box["height"] <= viewport["height"]
    )


def probed(provider: Provider) -> Provider:
    """The provider's row once the probe a viewer's report asked for has recorded its verdict."""
    deadline = time.monotonic() + 10
    while (fresh := Provider.objects.get(pk=provider.pk)).last_probe_at is None:
        assert time.monotonic() < deadline, "the provider was never probed"
        time.sleep(0.05)
    return fresh


def reports(provider: Provider, reason: str = "no_answer") -> float:
    labels = {"provider": provider.slug, "reason": reason}
    return REGISTRY.get_sample_value("streamsite_playback_failure_reports_total", labels) or 0.0


@pytest.mark.parametrize("state", ["refused", "hanging"])
def test_a_provider_that_never_proves_it_plays_gives_way_to_the_next_and_is_probed(
    state, make_movie, make_provider, provider_server, browser_page, browser_record
):
    # Unreachable: the browser's own error page fires the iframe's `load`, so only VidKing's
    # PLAYER_EVENT counts as playing. Hanging: nothing at all comes back.
    broken = provider_server(state, title="Server one")
    working = provider_server("healthy", title="Server two", script=PLAYER_EVENT_SCRIPT)
    primary = make_provider(
        broken.base_url,
        priority=10,
        kind=Provider.Kind.VIDKING,
        start_param="progress",
        player_timeout_seconds=1.5,  # the row's own timeout, not WATCH_SOURCE_TIMEOUT's 8 s
        timeout_seconds=BROKEN_TIMEOUT,  # the probe its failure report starts
    )
    fallback = make_provider(working.base_url, priority=20, kind=Provider.Kind.VIDKING)
    movie = make_movie("Heat", tmdb_id=949)
    before = reports(primary)
    page = browser_page

    # Not waiting for the page's load event, which a hanging iframe holds back until the page
    # has given up on it.
    page.goto(f"/watch/{movie.slug}/?t=90", wait_until="domcontentloaded")
    seen = notices(page)

    player = page.locator("#player")
    expect(page.get_by_role("button", name="Server 2", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(player).to_have_attribute("data-state", "playing")
    expect(player).to_have_attribute("data-provider", fallback.slug)
    expect(page.locator("iframe.player__frame")).to_have_attribute(
        "src", f"{working.base_url}/embed/movie/949?autoPlay=true&startAt=90"
    )
    status = page.get_by_role("status")
    expect(status).to_have_text("Server 1 did not answer; now playing Server 2.")
    assert seen()[:2] == [
        "Server 1 did not answer, trying Server 2…",
        "Server 1 did not answer; now playing Server 2.",
    ]
    assert inside(page, "#player-status")
    # Its provider proved it plays: no "Not playing?" button.
    expect(page.locator(".player__help")).to_be_hidden()

    # The report made the server probe the broken provider now, and that probe's verdict is
    # what counts toward its breaker.
    checked = probed(primary)
    assert checked.last_probe_ok is False
    assert reports(primary) == before + 1
    if state == "hanging":
        assert "/health" in broken.requests
    assert browser_record.console_errors == []
    assert browser_record.offsite_requests() == []


def test_a_provider_without_a_ready_message_is_trusted_on_load_with_a_way_out(
    make_movie, make_provider, provider_server, browser_page, browser_record
):
    quiet = provider_server("healthy", title="Server one")
    other = provider_server("healthy", title="Server two", script=PLAYER_EVENT_SCRIPT)
    make_provider(quiet.base_url, priority=10)
    second = make_provider(other.base_url, priority=20, ready_message="PLAYER_EVENT")
    movie = make_movie("Heat", tmdb_id=949)
    page = browser_page

    page.goto(f"/watch/{movie.slug}/")

    player = page.locator("#player")
    expect(player).to_have_attribute("data-state", "playing")
    help_button = page.get_by_role("button", name="Not playing? Try Server 2")
    expect(help_button).to_be_visible()
    assert inside(page, ".player__help-button")
    help_button.click()
    expect(player).to_have_attribute("data-provider", second.slug)
    expect(player).to_have_attribute("data-state", "playing")
    expect(page.locator(".player__help")).to_be_hidden()  # this one proved it
    assert browser_record.console_errors == []


@pytest.mark.parametrize(
    "browser_viewport", [{"width": 1366, "height": 768}, MOBILE], ids=["1366", "390"]
)
def test_when_every_server_fails_the_player_itself_says_so_and_retries(
    browser_viewport, settings, make_movie, make_provider, provider_server, browser_page, screenshot
):
    settings.WATCH_SOURCE_TIMEOUT = 1
    for priority in (10, 20):
        make_provider(
            provider_server("refused").base_url, priority=priority, kind=Provider.Kind.VIDKING
        )
    movie = make_movie("Heat", tmdb_id=949)
    page = browser_page

    page.goto(f"/watch/{movie.slug}/")

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Nothing could play this film right now")
    expect(alert).to_contain_text("Server 2 did not answer. No other server could play it")
    retry = page.get_by_role("button", name="Try again")
    expect(retry).to_be_visible()
    # In the player, above the fold: nothing the viewer needs is under it.
    assert inside(page, ".player__failed .player__message")
    assert inside(page, "[data-retry]")
    expect(page.locator("#player")).to_have_attribute("data-state", "failed")
    expect(page.locator("iframe.player__frame")).to_have_count(0)
    screenshot(page, "watch-all-failed", settled=False)

    retry.click()
    expect(page.locator(".player__failed")).to_be_hidden()
    expect(page.get_by_role("button", name="Server 1", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("#player")).to_have_attribute("data-state", "loading")


def test_a_viewer_who_picks_a_slow_server_keeps_it_and_is_offered_another(
    settings, make_movie, make_provider, provider_server, browser_page, browser_record, screenshot
):
    settings.WATCH_SOURCE_TIMEOUT = 1.5
    hanging = provider_server("hanging", title="Server one")
    working = provider_server("healthy", title="Server two")
    primary = make_provider(
        hanging.base_url,
        priority=10,
        kind=Provider.Kind.VIDKING,
        start_param="progress",
        timeout_seconds=BROKEN_TIMEOUT,
    )
    make_provider(working.base_url, priority=20)
    movie = make_movie("Heat", tmdb_id=949)
    page = browser_page

    page.goto(f"/watch/{movie.slug}/?t=90")
    history_length = page.evaluate("history.length")
    server_1 = page.get_by_role("button", name="Server 1", exact=True)
    server_2 = page.get_by_role("button", name="Server 2", exact=True)
    player = page.locator("#player")
    expect(server_2).to_have_attribute("aria-pressed", "true")
    expect(player).to_have_attribute("data-state", "playing")
    assert "/embed/movie/949?autoPlay=true&progress=90" in hanging.requests
    screenshot(page, "watch-fallback", settled=False)  # a server that never answers

    # The viewer goes back to Server 1 on purpose: it stays, and the player says it is slow.
    server_1.click()
    expect(server_1).to_have_attribute("aria-pressed", "true")
    expect(player).to_have_attribute("data-provider", primary.slug)
    expect(page.get_by_role("status")).to_have_text(
        "Server 1 is slow to answer. Wait, or try another server."
    )
    expect(server_1).to_have_attribute("aria-pressed", "true")
    offered = page.get_by_role("button", name="Try Server 2")
    expect(offered).to_be_visible()
    assert inside(page, ".player__help-button")

    offered.click()
    expect(server_2).to_have_attribute("aria-pressed", "true")
    expect(player).to_have_attribute("data-state", "playing")
    page.get_by_role("button", name="Try next server").click()
    expect(server_1).to_have_attribute("aria-pressed", "true")
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
