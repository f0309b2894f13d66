"""The watch page by keyboard alone and under axe-core, in real Chromium: our own HLS (with its
quality and subtitle menus) as Server 1 and an embed as Server 2, as a viewer meets it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from catalog.models import Movie
from streaming.models import Provider
from tests.accessibility import axe, blocking, by_impact, tab_order
from videos.models import VideoAsset

pytestmark = pytest.mark.browser

ENGLISH = "WEBVTT\n\n00:00:00.000 --> 00:01:00.000\nHello from the test\n"


@pytest.fixture
def film(
    settings: Any,
    make_movie: Callable[..., Movie],
    make_ready_asset: Callable[..., VideoAsset],
    make_provider: Callable[..., Provider],
    provider_server: Callable[..., Any],
) -> Movie:
    settings.VIDEO_LADDER = [360, 240]  # two rungs: the quality menu has a choice to offer
    settings.VIDEO_SEGMENT_SECONDS = 2
    settings.VIDEO_X264_PRESET = "ultrafast"
    movie = make_movie("Heat", tmdb_id=949)
    make_ready_asset(
        movie, seconds=4, size="640x360", rate=12, subtitles={"en": ("English", ENGLISH)}
    )
    make_provider(provider_server("healthy", title="Fallback").base_url, priority=10)
    return movie


def test_every_control_of_the_watch_page_is_reached_and_worked_by_keyboard(
    film, browser_page: Page, browser_record, capsys
):
    page = browser_page
    page.goto(f"/watch/{film.slug}/")
    player = page.locator("#player")
    expect(player).to_have_attribute("data-kind", "hls")
    quality = page.locator("[data-menu=quality] .menu__button")
    expect(quality).to_be_visible()

    violations = axe(page)
    with capsys.disabled():
        print(f"\naxe-core violations by impact: watch {by_impact(violations) or 'none'}")
    assert not blocking(violations), blocking(violations)

    # Tab alone reaches every control on the page, in order, and comes back round.
    tabbable, reached = tab_order(page)
    assert reached == tabbable, f"never reached by Tab: {sorted(set(tabbable) - set(reached))}"
    assert any("Server 2" in label for label in reached)
    assert any("Quality" in label for label in reached)

    # A menu opens with Enter, its items are chosen with the arrow keys and Enter, and Escape
    # closes it with the focus back on its button.
    for name in ("quality", "subtitles"):
        button = page.locator(f"[data-menu={name}] .menu__button")
        if not button.is_visible():
            continue
        button.focus()
        page.keyboard.press("Enter")
        expect(button).to_have_attribute("aria-expanded", "true")
        expect(page.locator(f"[data-menu={name}] [role^=menuitem]:focus")).to_have_count(1)
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Escape")
        expect(button).to_have_attribute("aria-expanded", "false")
        expect(button).to_be_focused()
    subtitles = page.locator("[data-menu=subtitles] .menu__button")
    subtitles.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")  # Off → English
    page.keyboard.press("Enter")
    expect(subtitles).to_contain_text("English")

    # The servers are toggle buttons: Space on Server 2 plays the embed.
    page.get_by_role("button", name="Server 2", exact=True).focus()
    page.keyboard.press("Space")
    expect(player).to_have_attribute("data-kind", "embed")
    expect(page.get_by_role("button", name="Server 2", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    # And back with Enter.
    page.get_by_role("button", name="Server 1", exact=True).focus()
    page.keyboard.press("Enter")
    expect(player).to_have_attribute("data-kind", "hls")

    assert browser_record.offsite_requests() == []
    assert [e for e in browser_record.console_errors if not re.search(r"favicon", e)] == []
