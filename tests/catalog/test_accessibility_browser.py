"""Accessibility in real Chromium: axe-core on every kind of page (0 serious or critical
violations), and the admin's lists fitting a 1366 px screen. The watch page has its own
(tests/streaming/test_watch_accessibility_browser.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from streaming.models import Provider
from tests.accessibility import axe, blocking, by_impact

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def demo_catalog(transactional_db: None) -> None:
    call_command("load_demo", verbosity=0)


def sign_in_as(page: Page, user, base_url: str) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": base_url}])


@pytest.mark.parametrize("browser_viewport", [LAPTOP], ids=["1366"])
def test_every_page_has_no_serious_or_critical_axe_violation_and_the_admin_fits(
    demo_catalog, browser_page, browser_record, live_server, capsys
):
    page = browser_page
    editor = get_user_model().objects.create_superuser("editor", "editor@example.org", "pw")
    found: dict[str, list] = {}

    page.goto("/accounts/login/")  # as a visitor
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    found["sign-in"] = axe(page)

    sign_in_as(page, editor, live_server.url)
    pages = {
        "home": ("/", "Popular now"),
        "browse": ("/browse/?genre=drama", "Drama"),
        "search": ("/search/?q=godfater", "Search results"),
        "detail": ("/movies/pulp-fiction/", "Pulp Fiction"),
        "account": ("/accounts/account/", "Your account"),
        "admin index": ("/admin/", "Dashboard"),
    }
    for name, (path, heading) in pages.items():
        page.goto(path)
        expect(page.get_by_role("heading", name=heading).first).to_be_visible()
        found[name] = axe(page)

    admin_lists_fit(page)

    with capsys.disabled():
        print("\naxe-core violations (nodes) by impact:")
        for name, violations in found.items():
            rules = ", ".join(sorted({v["id"] for v in violations}))
            print(f"  {name:12} {by_impact(violations) or 'none'} {rules}")
    for name, violations in found.items():
        assert not blocking(violations), f"{name}: {blocking(violations)}"
    assert browser_record.console_errors == []
    assert browser_record.offsite_requests() == []


def admin_lists_fit(page: Page) -> None:
    """The admin's lists at 1366 px: every column labelled, in order, and none cut off."""
    Provider.objects.get_or_create(
        slug="vidking",
        defaults={
            "name": "VidKing", "base_url": "https://www.vidking.net",
            "movie_path_template": "/embed/movie/{tmdb_id}", "priority": 1, "enabled": True,
            "last_probe_at": timezone.now(), "last_probe_ok": False,
            "last_probe": "HTTP 503 from https://www.vidking.net/health after 3 attempts",
        },
    )  # fmt: skip

    for path, columns in {
        "/admin/catalog/movie/": ["Poster", "Title", "Year", "Genres", "Popularity", "Rating",
                                  "Published", "Featured"],
        "/admin/streaming/provider/": ["Name", "Kind", "Priority", "Enabled", "Host", "Circuit",
                                       "Last probe"],
    }.items():  # fmt: skip
        page.goto(path)
        headers = page.locator("#result_list thead th")
        expect(headers.last).to_be_visible()
        texts = headers.evaluate_all("cells => cells.map(c => c.textContent.trim())")
        assert texts[1:] == columns  # after the select-all box: labelled, in this order
        edges = headers.evaluate_all("cells => cells.map(c => c.getBoundingClientRect().right)")
        assert max(edges) <= LAPTOP["width"], f"{path}: a column ends at {max(edges)} px"
        assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"], path
        # The year filter is a dozen decades, not a drill-down of seventy years.
        if path == "/admin/catalog/movie/":
            expect(page.locator(".xfull")).to_have_count(0)  # no date hierarchy
            assert page.locator("[data-filter-title='release decade'] li").count() <= 15
