"""The viewer pages in real headless Chromium: search, open a film, and fit every screen."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.conftest_browser import DESKTOP, MOBILE, SMALLEST, load_every_image

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_catalog(transactional_db: None) -> None:
    call_command("load_demo", verbosity=0)


@pytest.mark.parametrize("browser_viewport", [DESKTOP, MOBILE], ids=["desktop", "mobile"])
def test_viewer_searches_for_fight_club_and_opens_its_page(
    demo_catalog, browser_page, browser_record, screenshot
):
    page = browser_page

    page.goto("/")
    expect(page.locator(".hero__title")).to_be_visible()
    expect(page.get_by_role("heading", name="Popular now")).to_be_visible()
    screenshot(page, "home")

    # A combobox: the page's script offers titles as one types (Enter without one searches).
    page.get_by_role("combobox", name="Search movies").fill("Fight Club")
    page.get_by_role("combobox", name="Search movies").press("Enter")
    page.wait_for_url(re.compile(r"/search/\?q=Fight\+Club$"))
    expect(page.get_by_role("status")).to_contain_text("for “Fight Club”")
    screenshot(page, "search")

    page.locator("a.card", has_text="Fight Club").first.click()
    page.wait_for_url(re.compile(r"/movies/fight-club/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Fight Club")
    facts = page.locator(".detail__info .meta-line")
    expect(facts).to_contain_text("1999")
    expect(facts).to_contain_text("2h 19m")
    play = page.get_by_role("link", name=re.compile(r"^Play"))
    expect(play).to_be_visible()
    expect(play).to_have_attribute("href", "/watch/fight-club/")
    expect(page.get_by_role("link", name="Drama")).to_be_visible()
    screenshot(page, "detail")

    assert browser_record.console_errors == []
    assert browser_record.failed_responses == []
    assert browser_record.offsite_requests() == []


PAGES = {
    "browse": "/browse/?genre=drama",
    "browse-error": "/browse/?year=abc",
    "search-empty": "/search/?q=nothing+like+this",
    "signup": "/accounts/signup/",
    "login": "/accounts/login/",
    "not-found": "/no/such/page/",
}


def test_every_page_fits_the_screen_without_sideways_scrolling(
    demo_catalog, browser_page, browser_record, screenshot, live_server
):
    page = browser_page

    pages = {"home": "/", "detail-pulp-fiction": "/movies/pulp-fiction/", **PAGES}
    for screen, viewport in {"desktop": DESKTOP, "mobile": MOBILE, "smallest": SMALLEST}.items():
        page.set_viewport_size(viewport)
        for name, path in pages.items():
            page.goto(path)
            expect(page.locator("main h1").first).to_be_attached()
            load_every_image(page)
            page_width = page.evaluate("document.documentElement.scrollWidth")
            assert page_width <= viewport["width"], f"{name} is {page_width}px wide on {screen}"
            screenshot(page, name)

    # Only the two error pages themselves answer with errors (which Chromium also logs to the
    # console), once on each screen; every stylesheet, image and icon loads, and no script fails.
    failed = [entry.replace(str(live_server), "") for entry in browser_record.failed_responses]
    assert sorted(failed) == ["400 /browse/?year=abc"] * 3 + ["404 /no/such/page/"] * 3
    console = [entry.replace(str(live_server), "") for entry in browser_record.console_errors]
    assert (
        sorted(console)
        == [
            "Failed to load resource: the server responded with a status of 400 (Bad Request)"
            " (/browse/?year=abc)",
        ]
        * 3
        + [
            "Failed to load resource: the server responded with a status of 404 (Not Found)"
            " (/no/such/page/)",
        ]
        * 3
    )
    assert browser_record.offsite_requests() == []


def test_keyboard_users_can_skip_straight_to_the_content(demo_catalog, browser_page):
    page = browser_page
    page.goto("/browse/")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    outline = skip.evaluate("element => getComputedStyle(element).outlineStyle")
    page.keyboard.press("Enter")

    assert outline != "none"  # focus is visible, not just present
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    # The next stop is inside the page content, not back in the header.
    assert page.evaluate("document.activeElement.closest('main') !== null")
