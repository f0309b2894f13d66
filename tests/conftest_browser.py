"""Real headless Chromium for browser tests, driven by Playwright against the live server.

`browser_page` gives a fresh page whose relative URLs resolve against pytest-django's
`live_server`. Everything the page does is written to `browser_record`: console errors,
uncaught exceptions, failed responses and every request URL. Requests addressed to anything
but this machine are aborted (and recorded), so a page that silently depends on a CDN or a
web font fails its test instead of working only online.

Override `browser_viewport` (e.g. by parametrizing it) to test other screen sizes.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connections
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SCREENSHOT_DIR = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"

DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}
SMALLEST = {"width": 360, "height": 740}


def is_local(url: str) -> bool:
    """True for URLs that never leave this machine (loopback hosts and inline data)."""
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return parts.hostname in LOCAL_HOSTS


@dataclass
class BrowserRecord:
    """What a page did while a test drove it."""

    console_errors: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)
    request_urls: list[str] = field(default_factory=list)
    blocked_urls: list[str] = field(default_factory=list)

    def offsite_requests(self) -> list[str]:
        return [url for url in self.request_urls if not is_local(url)] + self.blocked_urls


@pytest.fixture
def browser_viewport() -> dict[str, int]:
    return DESKTOP


@pytest.fixture
def browser_record() -> BrowserRecord:
    return BrowserRecord()


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    # Playwright's sync API keeps an asyncio loop running in this thread while it is started,
    # and Django refuses ORM calls from a thread with a running loop. Tests still run their
    # queries one at a time on this thread, so the guard is lifted for this test only — which
    # is also why the browser is per test rather than per session.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
        # While that loop runs, Django keeps this thread's connections apart from the usual ones
        # (asgiref's Local follows the loop's context), so the queries above went through a
        # connection of their own. Return it to the pool while it is still reachable: left open,
        # it would hold the test database until the session ends and block dropping it.
        connections.close_all()


@pytest.fixture
def browser_page(
    chromium: Browser,
    live_server: object,
    browser_viewport: dict[str, int],
    browser_record: BrowserRecord,
) -> Iterator[Page]:
    context = chromium.new_context(
        base_url=str(live_server),
        viewport=browser_viewport,
        locale="en-US",
        service_workers="block",
    )
    context.route("**/*", lambda route, request: _keep_local(route, request, browser_record))
    page = context.new_page()
    page.on("console", lambda message: _on_console(message, browser_record))
    page.on("pageerror", lambda error: browser_record.console_errors.append(str(error)))
    page.on("request", lambda request: browser_record.request_urls.append(request.url))
    page.on("response", lambda response: _on_response(response, browser_record))
    yield page
    context.close()


def load_every_image(page: Page) -> None:
    """Load the lazy images below the fold too, and wait until the page has fetched them all."""
    page.evaluate(
        "() => document.querySelectorAll('img[loading=lazy]')"
        ".forEach(img => { img.loading = 'eager'; })"
    )
    page.wait_for_load_state("networkidle")


@pytest.fixture
def screenshot() -> Callable[..., None]:
    """With SCREENSHOTS=1 in the environment, save a full-page screenshot of each page a test
    shows as artifacts/screenshots/<name>-<width>.png, to look the pages over. They are for
    people, not assertions, and cost a third of these tests' time, so a plain run takes none.

    ``settled=False`` takes the page as it is, without waiting for its images and the network:
    for a page whose point is a server that never answers."""
    wanted = os.environ.get("SCREENSHOTS", "") not in ("", "0")

    def save(page: Page, name: str, *, settled: bool = True) -> None:
        if not wanted:
            return
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        width = (page.viewport_size or {"width": 0})["width"]
        if settled:
            load_every_image(page)  # the screenshot shows the finished page
        page.screenshot(path=str(SCREENSHOT_DIR / f"{slug}-{width}.png"), full_page=True)

    return save


def _keep_local(route: Route, request: Request, record: BrowserRecord) -> None:
    if is_local(request.url):
        route.continue_()
        return
    record.blocked_urls.append(request.url)
    # The page may already be gone (navigated away); the URL is recorded either way.
    with contextlib.suppress(PlaywrightError):
        route.abort("blockedbyclient")


def _on_console(message: ConsoleMessage, record: BrowserRecord) -> None:
    if message.type == "error":
        record.console_errors.append(f"{message.text} ({message.location.get('url', '')})")


def _on_response(response: Response, record: BrowserRecord) -> None:
    if response.status >= 400:
        record.failed_responses.append(f"{response.status} {response.url}")
