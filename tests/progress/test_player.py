"""static/js/player.js in real headless Chromium: a local video made by ffmpeg, or a fake
provider iframe on another origin posting VidKing-shaped messages, against the live server."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from playwright.sync_api import Page, Request

from catalog.models import Movie
from progress import buffer, services
from progress.models import WatchProgress
from tests.conftest_browser import BrowserRecord
from tests.http_server import HTTPServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.urls("tests.progress.player_site"),
    pytest.mark.django_db(transaction=True),
]

QUEUE_KEY = "streamsite.progress.queue"
VIDEO_SECONDS = 600


@pytest.fixture(scope="module")
def test_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten minutes of test pattern, tiny and with a keyframe every 5 s so seeks are quick."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is not installed"
    target = tmp_path_factory.mktemp("video") / "pattern.webm"
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi",
         "-i", f"testsrc=duration={VIDEO_SECONDS}:size=160x90:rate=5",
         "-c:v", "libvpx", "-b:v", "40k", "-g", "25", "-deadline", "realtime", str(target)],
        check=True,
    )  # fmt: skip
    return target


def sign_in(page: Page, user: AbstractBaseUser, base_url: str) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": base_url}])


def eventually(
    page: Page, condition: Callable[[], Any], message: str, timeout: float = 30.0
) -> Any:
    """Poll ``condition``; waiting through Playwright lets it route the page's requests."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, message
        page.wait_for_timeout(100)


def until_true(page: Page, expression: str) -> None:
    """Like wait_for_function, which the page's CSP (no eval) would refuse."""
    eventually(page, lambda: page.evaluate(expression), f"never true: {expression}")


def progress_of(user: AbstractBaseUser, movie: Movie) -> WatchProgress | None:
    return buffer.get_progress(user_id=user.pk, movie_id=movie.pk)


def position_of(user: AbstractBaseUser, movie: Movie) -> float | None:
    progress = progress_of(user, movie)
    return progress.position if progress else None


def record_heartbeats(page: Page) -> list[str]:
    """The event of every heartbeat the page sends, in order."""
    events: list[str] = []

    def record(request: Request) -> None:
        if request.method == "POST" and "/api/streaming/progress/" in request.url:
            body = request.post_data or ""
            events.append(json.loads(body)["event"] if body.startswith("{") else "beacon")

    page.on("request", record)
    return events


def queued(page: Page) -> dict[str, Any]:
    return json.loads(page.evaluate(f"localStorage.getItem('{QUEUE_KEY}') || '{{}}'"))


def test_video_heartbeats_queue_offline_and_resume_after_reload(
    browser_page: Page,
    browser_record: BrowserRecord,
    live_server: Any,
    settings: Any,
    test_video: Path,
    viewer: AbstractBaseUser,
    movie: Movie,
    screenshot: Callable[[Page, str], Path],
) -> None:
    settings.PLAYER_TEST_VIDEO = str(test_video)
    page = browser_page
    events = record_heartbeats(page)
    sign_in(page, viewer, live_server.url)
    page.clock.install()
    page.goto(f"/player-test/{movie.pk}/")
    until_true(page, "document.querySelector('video').readyState >= 1")

    # Play: a heartbeat at once (and a viewing session).
    page.evaluate("document.querySelector('video').play()")
    first = eventually(page, lambda: progress_of(viewer, movie), "no heartbeat on play")
    assert first.duration == pytest.approx(VIDEO_SECONDS, abs=1)
    assert events == ["play"]

    # Ten seconds later on the page's clock: the periodic heartbeat.
    page.clock.run_for(10_000)
    eventually(page, lambda: events == ["play", "heartbeat"], f"no periodic heartbeat: {events}")
    eventually(
        page, lambda: progress_of(viewer, movie).client_ts > first.client_ts, "heartbeat not stored"
    )

    # Pause and seek: sent at once.
    page.evaluate(
        "(() => { const v = document.querySelector('video'); v.pause(); v.currentTime = 42; })()"
    )
    eventually(page, lambda: position_of(viewer, movie) == 42.0, "seek to 42 s never arrived")

    # Offline: the heartbeat waits in localStorage, coalesced per movie.
    page.context.set_offline(True)
    page.evaluate("document.querySelector('video').currentTime = 95")
    eventually(page, lambda: queued(page).get(str(movie.pk)), "nothing queued while offline")
    page.evaluate("document.querySelector('video').currentTime = 130")
    eventually(
        page,
        lambda: queued(page)[str(movie.pk)]["body"]["position"] == 130.0,
        "queue did not keep the newest heartbeat",
    )
    assert len(queued(page)) == 1
    assert position_of(viewer, movie) == 42.0  # nothing reached the server

    # Back online: the queue is delivered and emptied.
    page.context.set_offline(False)
    eventually(page, lambda: position_of(viewer, movie) == 130.0, "queue not delivered when online")
    eventually(page, lambda: queued(page) == {}, "queue not emptied after delivery")
    services.flush_buffer()
    assert WatchProgress.objects.get(user=viewer, movie=movie).position == 130.0

    # Reload: the page starts where the viewer stopped.
    page.reload()
    until_true(page, "Math.abs(document.querySelector('video').currentTime - 130) < 1")
    screenshot(page, "player-test-resumed")

    assert browser_record.console_errors == []
    assert browser_record.failed_responses == []


def test_with_the_playback_token_heartbeats_need_no_session_cookie(
    browser_page: Page,
    browser_record: BrowserRecord,
    live_server: Any,
    settings: Any,
    test_video: Path,
    viewer: AbstractBaseUser,
    movie: Movie,
) -> None:
    settings.PLAYER_TEST_VIDEO = str(test_video)
    page = browser_page
    tokens_sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            tokens_sent.append(request.headers.get("x-progress-token", ""))
            if request.method == "POST" and "/api/streaming/progress/" in request.url
            else None
        ),
    )
    sign_in(page, viewer, live_server.url)
    page.goto(f"/player-test/{movie.pk}/?token=1")
    until_true(page, "document.querySelector('video').readyState >= 1")
    page.evaluate("document.querySelector('video').play()")  # also starts a viewing session
    eventually(page, lambda: progress_of(viewer, movie), "no heartbeat on play")

    # From here on the browser has no session: only the token can authenticate heartbeats.
    page.context.clear_cookies()
    page.evaluate(
        "(() => { const v = document.querySelector('video'); v.pause(); v.currentTime = 77; })()"
    )
    eventually(page, lambda: position_of(viewer, movie) == 77.0, "seek to 77 s never arrived")

    assert tokens_sent and all(
        token.startswith(f"{viewer.pk}:{movie.pk}:") for token in tokens_sent
    )
    assert browser_record.failed_responses == []


PROVIDER_PAGE = "<!doctype html><html><body><p>Fake provider player</p></body></html>"


@pytest.fixture
def provider() -> Iterator[HTTPServer]:
    """A fake provider's player page on 127.0.0.1 (threaded: the page loads two frames)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request("/embed/movie/603").respond_with_data(
        PROVIDER_PAGE, content_type="text/html"
    )
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def post_from(page: Page, frame_id: str, message: Any) -> None:
    """Make the framed page post ``message`` to the watch page, as a provider player does."""
    frame = page.frame_locator(f"#{frame_id}").locator("body")
    frame.evaluate("(body, message) => window.parent.postMessage(message, '*')", message)


def vidking(event: str, **data: Any) -> dict[str, Any]:
    return {"type": "PLAYER_EVENT", "data": {"event": event, **data}}


def test_provider_messages_feed_the_tracker_and_other_origins_are_ignored(
    browser_page: Page,
    browser_record: BrowserRecord,
    live_server: Any,
    provider: HTTPServer,
    viewer: AbstractBaseUser,
    movie: Movie,
) -> None:
    # The same server under two names: two origins, only one of them the provider's.
    provider_url = f"http://127.0.0.1:{provider.port}/embed/movie/603"
    impostor_url = f"http://localhost:{provider.port}/embed/movie/603"
    query = urlencode(
        {
            "provider": provider_url,
            "origin": f"http://127.0.0.1:{provider.port}",
            "impostor": impostor_url,
        }
    )
    page = browser_page
    sent: list[dict[str, Any]] = []

    def record(request: Request) -> None:
        if request.method == "POST" and "/api/streaming/progress/" in request.url:
            sent.append(json.loads(request.post_data or "{}"))

    page.on("request", record)
    sign_in(page, viewer, live_server.url)
    page.clock.install()
    page.goto(f"/player-test/{movie.pk}/?{query}")

    # An object message, then a JSON string one: both forms VidKing uses.
    post_from(page, "provider", vidking("play", currentTime=100, duration=6000, progress=1.7))
    eventually(page, lambda: position_of(viewer, movie) == 100.0, "play message not tracked")
    post_from(page, "provider", json.dumps(vidking("timeupdate", currentTime=160, duration=6000)))
    post_from(page, "impostor", vidking("seeked", currentTime=5900, duration=6000))
    page.clock.run_for(10_000)
    eventually(
        page, lambda: position_of(viewer, movie) == 160.0, "no periodic heartbeat while playing"
    )

    # `progress` is a percentage of the duration, used when currentTime is missing.
    post_from(page, "provider", vidking("pause", progress=50, duration=6000))
    eventually(page, lambda: position_of(viewer, movie) == 3000.0, "percent not converted")

    assert [beat["event"] for beat in sent] == ["play", "heartbeat", "pause"]
    assert all(beat["position"] != 5900 for beat in sent)  # the other origin was ignored
    assert browser_record.console_errors == []


def test_leaving_the_page_sends_a_beacon_with_the_csrf_token_in_the_body(
    browser_page: Page,
    live_server: Any,
    provider: HTTPServer,
    viewer: AbstractBaseUser,
    movie: Movie,
) -> None:
    provider_url = f"http://127.0.0.1:{provider.port}/embed/movie/603"
    query = urlencode({"provider": provider_url, "origin": f"http://127.0.0.1:{provider.port}"})
    page = browser_page
    events = record_heartbeats(page)
    sign_in(page, viewer, live_server.url)
    page.clock.install()  # and never advanced: no periodic heartbeat can carry the position
    page.goto(f"/player-test/{movie.pk}/?{query}")
    post_from(page, "provider", vidking("play", currentTime=300, duration=6000))
    eventually(page, lambda: position_of(viewer, movie) == 300.0, "play message not tracked")
    # Timeupdates only move the position in the page; nothing is sent for them...
    # (A listener added after player.js's sees each message after it does.)
    page.evaluate("window.addEventListener('message', e => { window.lastMessage = e.data; })")
    post_from(page, "provider", vidking("timeupdate", currentTime=321.5, duration=6000))
    until_true(page, "window.lastMessage && window.lastMessage.data.currentTime === 321.5")

    assert events == ["play"]

    # ...until the viewer leaves: the page-hide beacon carries the last position. It has no
    # CSRF header (beacons cannot set one), so the server taking it shows the token was in the
    # form body: the session cookie alone gets a 403 (tests/progress/test_api.py).
    page.goto("about:blank")
    eventually(page, lambda: position_of(viewer, movie) == 321.5, "beacon never arrived")
