"""Adaptive quality under a slow network, in real headless Chromium: hls.js playing a ladder made
by the real pipeline steps down a rung when the DevTools protocol throttles the network, the
playback info panel shows it live, every segment request carries CMCD naming the viewing
session and the film, and the QoE report the page sends when it is left records the down-switch
and the time played at each rung."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import m3u8
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import CDPSession, Page, expect

from catalog.models import Movie
from progress.models import PlaybackQuality, PlaybackRungTime, ViewingSession
from tests.streaming.test_hls_player_browser import VIDEO, eventually, sign_in, start_playing, until
from videos.models import VideoAsset

pytestmark = pytest.mark.browser

# Longer than what hls.js buffers ahead (30 s), so a seek can land where nothing is loaded yet.
SECONDS = 60


@pytest.fixture
def film(settings: Any, make_movie: Callable[..., Movie], make_ready_asset) -> tuple:
    # Two rungs far enough apart that a throughput between them leaves only the lower one.
    settings.VIDEO_LADDER = [480, 240]
    settings.VIDEO_SEGMENT_SECONDS = 2
    settings.VIDEO_X264_PRESET = "ultrafast"
    movie = make_movie("Heat", tmdb_id=949)
    asset = make_ready_asset(movie, seconds=SECONDS, size="854x480", rate=24)
    return movie, asset


def bandwidths(asset: VideoAsset) -> dict[int, int]:
    """Each rung's BANDWIDTH, by height, as the master playlist says (read by a real parser)."""
    master = m3u8.load(str(asset.directory / asset.master_playlist))
    return {p.stream_info.resolution[1]: p.stream_info.bandwidth for p in master.playlists}


def cmcd(url: str) -> dict[str, str]:
    """The CMCD keys of a request sent in query mode (CTA-5004): key=value, comma-separated."""
    raw = parse_qs(urlsplit(url).query).get("CMCD", [""])[0]
    pairs = (item.partition("=") for item in unquote(raw).split(",") if item)
    return {key: value.strip('"') for key, _, value in pairs}


def throttle(devtools: CDPSession, bits_per_second: float) -> None:
    devtools.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": math.floor(bits_per_second / 8),  # bytes per second
            "uploadThroughput": -1,
        },
    )


def test_a_throttled_network_steps_hls_down_a_rung_and_the_qoe_report_says_so(
    film, live_server, browser_page: Page, browser_record
):
    movie, asset = film
    rates = bandwidths(asset)
    assert rates[480] > 2 * rates[240], rates
    viewer = get_user_model().objects.create_user("viewer", password="correct horse battery")
    page = browser_page
    sign_in(page, viewer, live_server.url)
    # A network four times as fast as the top rung needs: Auto climbs to it, and the buffer
    # fills at four times the playing speed rather than all at once as on loopback.
    devtools = page.context.new_cdp_session(page)
    devtools.send("Network.enable")
    throttle(devtools, 4 * rates[480])
    page.goto(f"/watch/{movie.slug}/")
    session_id = page.locator("#player").get_attribute("data-session-id")
    until(page, f"{VIDEO} && {VIDEO}.readyState >= 2")
    start_playing(page)

    # The playback info panel, from the keyboard: rung, resolution, bandwidth, buffer, frames.
    toggle = page.get_by_role("button", name="Playback info", exact=True)
    toggle.focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("region", name="Playback info")
    expect(panel).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    rung = panel.locator("[data-info=rung]")
    expect(rung).to_have_text("480p (Auto)", timeout=30_000)
    expect(panel.locator("[data-info=resolution]")).to_have_text("854 × 480")
    expect(panel.locator("[data-info=bandwidth]")).to_have_text(re.compile(r"^\d+(\.\d)? [kM]b/s$"))
    expect(panel.locator("[data-info=buffer]")).to_have_text(re.compile(r"^\d+\.\d s$"))
    expect(panel.locator("[data-info=dropped]")).to_have_text(re.compile(r"^\d+ of \d+$"))

    # Down to a quarter above the lower rung, and on to where nothing is buffered yet: the next
    # segment of the top rung comes too slowly, and Auto steps down.
    throttle(devtools, 1.25 * rates[240])
    buffered_end = page.evaluate(f"{VIDEO}.buffered.end({VIDEO}.buffered.length - 1)")
    assert buffered_end < SECONDS - 12, buffered_end
    page.evaluate(f"{VIDEO}.currentTime = {buffered_end} + 1")
    expect(rung).to_have_text("240p (Auto)", timeout=60_000)
    expect(page.get_by_role("button", name="Quality:")).to_have_text("Quality: Auto (240p)")
    position = page.evaluate(f"{VIDEO}.currentTime")
    until(page, f"{VIDEO}.currentTime > {position} + 2")  # some time played at 240p too
    devtools.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    panel.get_by_role("button", name="Close playback info").focus()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(toggle).to_be_focused()

    # CMCD on every segment request: this viewing session as sid, the film as cid.
    segments = [url for url in browser_record.request_urls if ".ts" in url]
    assert segments
    keys = [cmcd(url) for url in segments]
    assert all(k.get("sid") == session_id and k.get("cid") == str(movie.pk) for k in keys), keys
    assert {k.get("ot") for k in keys} == {"av"}  # muxed audio and video segments
    assert any("br" in k and "bl" in k for k in keys)  # bitrate and buffer length

    # Leaving the page sends the last report (sendBeacon, the playback token in its body).
    page.goto("about:blank")
    quality = eventually(
        page,
        lambda: PlaybackQuality.objects.filter(
            session_id=session_id, source="self-hosted", switches_down__gte=1
        ).first(),
        "no QoE report with a down-switch",
    )
    assert ViewingSession.objects.get(pk=session_id).user == viewer
    rungs = dict(
        eventually(
            page,
            lambda: (
                list(
                    PlaybackRungTime.objects.filter(quality=quality).values_list(
                        "height", "played_ms"
                    )
                )
                if PlaybackRungTime.objects.filter(quality=quality, height=240).exists()
                else None
            ),
            "no time played at 240p reported",
        )
    )
    assert rungs[480] > 0 and rungs[240] > 0, rungs
    quality.refresh_from_db()
    assert quality.startup_ms is not None and quality.startup_ms > 0
    assert quality.bandwidth_kbps is not None
    assert browser_record.console_errors == []
