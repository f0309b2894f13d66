"""What a viewer finds next, in real Chromium: suggestions under the search box, cast and
"More like this" on a film's page, My list saved in place from a poster, and rows that scroll
by buttons (shown only where a row does not fit) worked by mouse and by keyboard."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from playwright.sync_api import Page, expect

from catalog.models import ListEntry

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_catalog(transactional_db: None) -> None:
    call_command("load_demo", verbosity=0)


def sign_in_as(page: Page, user, base_url: str) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": base_url}])


def test_a_viewer_finds_a_film_by_typing_saves_it_and_scrolls_the_rows(
    demo_catalog, browser_page, browser_record, live_server, screenshot
):
    page = browser_page
    viewer = get_user_model().objects.create_user("viewer")
    sign_in_as(page, viewer, live_server.url)
    page.goto("/search/")  # any page: the box is in the header (this one loads no posters)

    # Suggestions as one types, chosen with the keyboard (a typo forgiven on PostgreSQL).
    box = page.get_by_role("combobox", name="Search movies")
    box.press_sequentially("godfat", delay=30)
    options = page.get_by_role("option")
    expect(options.first).to_contain_text("The Godfather")
    expect(box).to_have_attribute("aria-expanded", "true")
    screenshot(page, "search-suggestions")
    box.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", "header-search-option-0")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/movies/the-godfather/$"))

    # The film's people and its neighbours.
    expect(page.get_by_text("Directed by Francis Ford Coppola")).to_be_visible()
    cast = page.get_by_role("list", name="Top billed cast")
    expect(cast.get_by_role("listitem").first).to_contain_text("Marlon Brando")
    expect(cast).to_contain_text("Michael Corleone")
    similar = page.get_by_role("region", name="More like this")
    expect(similar.locator("a.card").first).to_be_visible()
    assert "The Godfather" not in similar.locator("a.card .card__title").all_inner_texts()
    screenshot(page, "detail-credits")

    # Saved from the page itself, in place: no navigation, the button says what it does now.
    save = page.get_by_role("button", name="Add The Godfather to My list")
    save.click()
    expect(page.get_by_role("button", name="Remove The Godfather from My list")).to_be_visible()
    assert page.url.endswith("/movies/the-godfather/")
    assert ListEntry.objects.filter(user=viewer, movie__slug="the-godfather").exists()

    # Home: a "My list" row, and a poster's own button saves another.
    page.goto("/")
    my_list = page.get_by_role("region", name="My list")
    expect(my_list.locator("a.card")).to_have_count(1)
    popular = page.get_by_role("region", name="Popular now")
    popular.get_by_role("button", name="Add Interstellar to My list").click()
    expect(popular.get_by_role("button", name="Remove Interstellar from My list")).to_be_visible()
    expect(
        page.get_by_role("status").filter(has_text="Interstellar added to My list")
    ).to_be_attached()

    # Rows wider than the screen get buttons; a row that fits (one film) gets none.
    expect(my_list.locator(".row__nav")).to_be_hidden()
    next_button = popular.get_by_role("button", name="Next: Popular now")
    previous = popular.get_by_role("button", name="Previous: Popular now")
    expect(next_button).to_be_visible()
    expect(previous).to_be_disabled()
    row = popular.locator(".row__list")
    next_button.click()
    expect(previous).to_be_enabled()
    assert row.evaluate("list => list.scrollLeft") > 0
    # By keyboard: Enter on the focused "previous" goes back to the start.
    previous.focus()
    page.keyboard.press("Enter")
    expect(previous).to_be_disabled()
    expect(next_button).to_be_focused()  # the focus never falls to the page
    assert row.evaluate("list => list.scrollLeft") <= 1
    screenshot(page, "home-rows")

    assert browser_record.console_errors == []
    assert browser_record.failed_responses == []
    assert browser_record.offsite_requests() == []
