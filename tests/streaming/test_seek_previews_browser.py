"""Seek previews on the watch page, in real headless Chromium: the thumbnail sprites and WebVTT
track the real pipeline wrote, shown over the seek bar on hover and while dragging, and the
time read out as the keyboard moves the bar."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from catalog.models import Movie
from tests.streaming.test_hls_player_browser import VIDEO, until

pytestmark = pytest.mark.browser


@pytest.fixture
def film(settings: Any, make_movie: Callable[..., Movie], make_ready_asset) -> tuple:
    settings.VIDEO_LADDER = [240]
    settings.VIDEO_SEGMENT_SECONDS = 2
    settings.VIDEO_X264_PRESET = "ultrafast"
    movie = make_movie("Heat", tmdb_id=949)
    # A frame every 5 s, 160 px wide: four tiles of 160 × 90 in one sprite.
    asset = make_ready_asset(movie, seconds=20, size="640x360", rate=12)
    assert asset.thumbnails
    return movie, asset


def test_hovering_dragging_and_keys_on_the_seek_bar(film, browser_page: Page, browser_record):
    movie, asset = film
    page = browser_page
    page.goto(f"/watch/{movie.slug}/")
    until(page, f"{VIDEO} && {VIDEO}.readyState >= 1")
    page.evaluate(f"{VIDEO}.pause()")
    bar = page.get_by_role("slider", name="Seek")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("aria-valuetext", re.compile(r"^0:0\d of 0:20$"))
    box = bar.bounding_box()
    assert box

    # Hovering 62 % along: 0:12, the third tile of the first sprite (10 s to 15 s).
    preview, frame = page.locator(".seekbar__preview"), page.locator(".seekbar__frame")
    page.mouse.move(box["x"] + 0.62 * box["width"], box["y"] + box["height"] / 2)
    expect(preview).to_be_visible()
    expect(page.locator(".seekbar__preview-time")).to_have_text("0:12")
    expect(frame).to_have_attribute("data-frame", "sprite_000.jpg#320,0")
    assert frame.evaluate("f => [f.style.width, f.style.height]") == ["160px", "90px"]
    until(
        page,
        "performance.getEntriesByType('resource').some(e => e.name.includes('sprite_000.jpg'))",
    )
    sprite = next(url for url in browser_record.request_urls if "sprite_000.jpg" in url)
    assert re.search(rf"/hls/[^/]+/\d+/{asset.pk}/thumbnails/sprite_000\.jpg$", sprite)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] - 200)  # away
    expect(preview).to_be_hidden()

    # Dragging from 20 % to 85 %: the frame follows the thumb; the video seeks on release.
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.85 * box["width"], box["y"] + box["height"] / 2, steps=5)
    expect(preview).to_be_visible()
    expect(frame).to_have_attribute("data-frame", "sprite_000.jpg#480,0")  # 15 s to 20 s
    page.mouse.up()
    expect(preview).to_be_hidden()
    until(page, f"Math.abs({VIDEO}.currentTime - 17) < 1.5")

    # The keyboard: 5 s a press, the new time read out through the slider's value text.
    bar.focus()
    page.keyboard.press("Home")
    until(page, f"{VIDEO}.currentTime < 0.5")
    expect(bar).to_have_attribute("aria-valuetext", "0:00 of 0:20")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(bar).to_have_attribute("aria-valuetext", "0:10 of 0:20")
    until(page, f"Math.abs({VIDEO}.currentTime - 10) < 0.5")
    page.keyboard.press("ArrowLeft")
    expect(bar).to_have_attribute("aria-valuetext", "0:05 of 0:20")
    assert browser_record.console_errors == []
    assert browser_record.failed_responses == []
