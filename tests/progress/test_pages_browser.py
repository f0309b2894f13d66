"""Progress on the real pages in headless Chromium: the watch page's provider reports where the
viewer is, the next visit resumes there, and the home row lets the viewer remove the film."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from playwright.sync_api import Page, expect

from progress import buffer
from streaming.models import Provider
from tests.conftest import MovieFactory
from tests.conftest_browser import BrowserRecord
from tests.progress.test_player import eventually, sign_in, vidking
from tests.streaming.conftest import (  # noqa: F401 - fixtures
    fast_breakers,
    make_provider,
    provider_server,
    release,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def post_from_player(page: Page, message: Any) -> None:
    frame = page.frame_locator("iframe.player__frame").locator("body")
    frame.evaluate("(body, message) => window.parent.postMessage(message, '*')", message)


def test_watch_page_saves_progress_resumes_and_home_row_removes_it(
    browser_page: Page,
    browser_record: BrowserRecord,
    live_server: Any,
    viewer: AbstractBaseUser,
    make_movie: MovieFactory,
    make_provider: Any,  # noqa: F811 - the fixture imported above
    provider_server: Any,  # noqa: F811
    screenshot: Callable[[Page, str], Path],
) -> None:
    server = provider_server("healthy", title="VidKing")
    make_provider(server.base_url, kind=Provider.Kind.VIDKING, start_param="progress")
    movie = make_movie("Heat", tmdb_id=949, runtime=170)
    page = browser_page
    sign_in(page, viewer, live_server.url)

    page.goto(f"/watch/{movie.slug}/")
    # VidKing's first PLAYER_EVENT is what proves to the page that its player plays.
    post_from_player(page, vidking("play", currentTime=600, duration=10200))
    expect(page.locator("#player")).to_have_attribute("data-state", "playing")
    eventually(page, lambda: buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk), "no play")
    # A JSON string this time, and the position only as a percentage.
    post_from_player(page, '{"type":"PLAYER_EVENT","data":{"event":"pause",'
                           '"progress":24.8,"duration":10200}}')  # fmt: skip
    eventually(
        page,
        lambda: buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 2529.6,
        "pause with a percentage not saved",
    )

    # The next visit starts the provider where the viewer stopped.
    page.goto(f"/watch/{movie.slug}/")
    expect(page.locator("iframe.player__frame")).to_have_attribute(
        "src", re.compile(r"[?&]progress=2529(&|$)")
    )
    expect(page.locator(".watch__resume")).to_have_text("Resuming at 42:09.")

    # Home: the film is in "Continue watching"; removing it takes it out for good.
    page.goto("/")
    row = page.get_by_role("region", name="Continue watching")
    expect(row.get_by_role("link", name=re.compile("Heat"))).to_be_visible()
    expect(row).to_contain_text("Resume at 42:09")
    screenshot(page, "home-continue-watching")
    row.get_by_role("button", name="Remove Heat from Continue watching").click()
    expect(row).to_have_count(0)
    eventually(
        page,
        lambda: buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 0.0,
        "removal not saved",
    )
    page.reload()
    expect(page.get_by_role("region", name="Continue watching")).to_have_count(0)
    page.goto(movie.get_absolute_url())
    expect(page.locator(".detail__actions .btn--play")).to_have_text(re.compile(r"^\s*Play"))

    assert browser_record.console_errors == []
    assert browser_record.failed_responses == []
    assert browser_record.offsite_requests() == []
