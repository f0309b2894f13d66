"""Playback quality in Chromium on loopback: how long a viewer waits when the first server is
broken, and what share of the time hls.js plays each rung when the network slows down.

    .venv/bin/python bench/playback.py [--runs 5] [--timeout 8] [--throttle-runs 3]

Fail-over. The watch page of a film whose Server 1 is a VidKing-kind provider in one of three
states, with Server 2 a healthy provider whose player posts VidKing's PLAYER_EVENT (both are
small HTTP servers this script starts on 127.0.0.1):

- healthy: Server 1 plays; the baseline, what any page load costs;
- unreachable: a closed port (the browser shows its own error page, whose `load` proves
  nothing);
- hanging: accepts the connection and never answers.

Each figure is the time from the navigation start to the page marking Server 2 (or, healthy,
Server 1) as playing, median of --runs runs, each in a fresh browser context. The page waits
the provider's player timeout for proof (--timeout, WATCH_SOURCE_TIMEOUT's 8 s by default), so
a broken Server 1 costs that plus the next player's load; before the page asked for proof, an
unreachable Server 1 was taken for playing and never left.

Throttling. A signed-in viewer plays a 60 s film with a 480p/240p ladder; the DevTools protocol
holds the network to 4x the top rung's BANDWIDTH until 480p plays, then to 1.25x the lower
rung's, and the player seeks past what it has buffered and plays on for --throttled seconds.
Leaving the page sends its last QoE report (sendBeacon); the figures are what the server stored:
the share of the time played at each rung, the rung switches, the stalls and the start-up, and
how long Auto took to step down once the network slowed.

Server: gunicorn on loopback (2 workers x 4 threads) on a PostgreSQL database of its own, Django
serving the signed HLS files (HLS_SERVED_BY_DJANGO), tasks run inline (a failure report's probe
too), breakers off (so the repeated runs keep offering the broken provider).
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_DATABASE_URL,
    bench_env,
    collect_static,
    free_port,
    fresh_database,
    gunicorn,
    serving,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # Stands for the press of Play: Chrome lets a page reached by a click on the same site
    # autoplay, and a navigation the benchmark makes itself is no click.
    "--autoplay-policy=no-user-gesture-required",
]
FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
SIGNING_KEY = "benchmark0signing0key"
# A database of its own: the players' reports arrive together (the last periodic one and the
# page-hide beacon), which SQLite would refuse while another write holds it.
DATABASE_URL = BENCH_DATABASE_URL.rsplit("/", 1)[0] + "/streamsite_bench_playback"
READY_PAGE = (
    b"<!doctype html><html><head><title>Player</title></head><body><p>Player</p><script>"
    b"parent.postMessage(JSON.stringify({type: 'PLAYER_EVENT', data: {event: 'play', "
    b"currentTime: 0, duration: 7200}}), '*');</script></body></html>"
)
# Installed before any page script: when #player is first marked playing, and by which server.
PLAYING_PROBE = """
(() => {
  new MutationObserver(() => {
    const player = document.getElementById("player");
    if (player && player.dataset.state === "playing" && !window.__playing) {
      window.__playing = {at: performance.now(), provider: player.dataset.provider};
    }
  }).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-state"]});
})();
"""


# --- Providers ------------------------------------------------------------------------------


class _Player(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(READY_PAGE)))
        self.end_headers()
        self.wfile.write(READY_PAGE)

    def log_message(self, *args: Any) -> None:
        pass


def healthy_provider() -> contextlib.AbstractContextManager[str]:
    return serving(_Player)


@contextlib.contextmanager
def hanging_provider() -> Iterator[str]:
    """Accepts every connection and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(sock.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        sock.close()


# --- The site -------------------------------------------------------------------------------


def player_env(work: Path, database_url: str = DATABASE_URL, **overrides: str) -> dict[str, str]:
    """The environment of a playback bench's server: the database ``database_url``, videos and
    static files under ``work``, Django serving the signed HLS, no shield, tasks inline, and no
    Redis (a local-memory cache, progress straight to the database)."""
    env = bench_env(
        DATABASE_URL=database_url,
        VIDEO_ROOT=str(work / "videos"),
        STATIC_ROOT=str(work / "static"),
        HLS_SIGNING_KEY=SIGNING_KEY,
        HLS_SERVED_BY_DJANGO="true",
        SHIELD_ENABLED="false",
        CELERY_TASK_ALWAYS_EAGER="true",
        DJANGO_SETTINGS_MODULE="streamsite.settings",
        **overrides,
    )
    env.pop("REDIS_URL", None)
    return env


def setup_django(env: dict[str, str]) -> None:
    fresh_database(env["DATABASE_URL"])
    os.environ.update(env)
    import django

    django.setup()


def film(tmdb_id: int, title: str) -> Any:
    from catalog.services import MovieData, upsert_movie

    movie, _ = upsert_movie(
        data=MovieData(tmdb_id=tmdb_id, title=title, release_date=None, genres=()), publish=True
    )
    return movie


def point_providers(primary: str, fallback: str) -> None:
    from streaming.models import Provider

    Provider.objects.all().delete()
    for priority, base_url in ((10, primary), (20, fallback)):
        Provider.objects.create(
            name=f"Provider {priority}",
            slug=f"provider-{priority}",
            kind=Provider.Kind.VIDKING,
            base_url=base_url,
            movie_path_template="/embed/movie/{tmdb_id}",
            start_param="progress",
            priority=priority,
            timeout_seconds=2.0,
            health_path="/",
        )


def make_clip(path: Path, *, height: int, seconds: int) -> Path:
    width = 2 * round(height * 16 / 9 / 2)
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=24:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         str(path)],
        check=True,
    )  # fmt: skip
    return path


def ladder_film(work: Path) -> tuple[Any, Any]:
    from django.core.files import File

    from videos import pipeline, services

    movie = film(550, "Fight Club")
    clip = make_clip(work / "clip.mp4", height=480, seconds=60)
    with clip.open("rb") as stream:
        asset = services.add_video(
            movie=movie,
            source=File(stream, name=clip.name),
            probe=services.probe_file(clip),
            transcode=False,
        )
    asset = pipeline.transcode(asset.pk, poster_frame=False)
    if not asset.is_ready:
        raise SystemExit(f"the transcode failed: {asset.error}")
    return movie, asset


def session_cookie(username: str = "bench-viewer") -> str:
    """Signs a new viewer in; returns their session cookie."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user(username)
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


# --- Measuring ------------------------------------------------------------------------------


def fresh_context(browser: Any, base: str, cookie: str = "") -> Any:
    context = browser.new_context(base_url=base, viewport={"width": 1366, "height": 768})
    context.route(
        "**/*",
        lambda route, request: (
            route.continue_()
            if "127.0.0.1" in request.url or request.url.startswith(("blob:", "data:"))
            else route.abort()
        ),
    )
    if cookie:
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
    return context


def time_to_playing(browser: Any, base: str, path: str, expected: str) -> float:
    context = fresh_context(browser, base)
    context.add_init_script(PLAYING_PROBE)
    page = context.new_page()
    try:
        page.goto(path, wait_until="commit")
        deadline = time.monotonic() + 60
        while not (playing := page.evaluate("window.__playing || null")):
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing played within 60 s at {path}")
            page.wait_for_timeout(20)
        if playing["provider"] != expected:
            raise SystemExit(f"{playing['provider']} played, expected {expected}")
        return playing["at"]
    finally:
        context.close()


def failover(browser: Any, base: str, runs: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    with (
        healthy_provider() as healthy,
        healthy_provider() as fallback,
        hanging_provider() as hanging,
    ):
        broken = {
            "healthy": healthy,
            "unreachable": f"http://127.0.0.1:{free_port()}",
            "hanging": hanging,
        }
        for number, (name, primary) in enumerate(broken.items()):
            point_providers(primary, fallback)
            # A film of its own: gunicorn's workers keep each film's sources in their own
            # memory, which this process's edit of the providers cannot reach.
            path = film(949 + number, f"Film {number}").get_watch_url()
            expected = "provider-10" if name == "healthy" else "provider-20"
            time_to_playing(browser, base, path, expected)  # warm the workers' caches
            results[name] = [time_to_playing(browser, base, path, expected) for _ in range(runs)]
    return results


def throttle(devtools: Any, bits_per_second: float, latency_ms: float = 0) -> None:
    """Holds the page's downloads to bits_per_second (0: unthrottled), each request
    latency_ms late, through the DevTools protocol."""
    devtools.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": latency_ms,
            "downloadThroughput": math.floor(bits_per_second / 8) if bits_per_second else -1,
            "uploadThroughput": -1,
        },
    )


def wait_for(page: Any, expression: str, seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := page.evaluate(expression)):
        if time.monotonic() > deadline:
            raise SystemExit(f"never true within {seconds:.0f} s: {expression}")
        page.wait_for_timeout(50)
    return value


VIDEO = "document.querySelector('#player video')"
RUNG = "document.querySelector('[data-info=rung]').textContent"


def throttled_run(
    browser: Any, base: str, cookie: str, movie: Any, rates: dict[int, int], seconds: int
) -> dict[str, Any]:
    from progress.models import PlaybackQuality, PlaybackRungTime

    context = fresh_context(browser, base, cookie)
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("Network.enable")
    throttle(devtools, 4 * rates[480])
    page.goto(movie.get_watch_url())
    session_id = page.locator("#player").get_attribute("data-session-id")
    wait_for(page, f"{VIDEO} && {VIDEO}.readyState >= 2")
    page.evaluate(f"{VIDEO}.play()")
    page.locator("#info-button").click()
    wait_for(page, f"{RUNG} === '480p (Auto)'")
    throttle(devtools, 1.25 * rates[240])
    slowed = time.monotonic()
    end = page.evaluate(f"{VIDEO}.buffered.end({VIDEO}.buffered.length - 1)")
    page.evaluate(f"{VIDEO}.currentTime = {min(end + 1, 40)}")
    wait_for(page, f"{RUNG} === '240p (Auto)'")
    stepped_down = time.monotonic() - slowed
    position = page.evaluate(f"{VIDEO}.currentTime")
    wait_for(page, f"{VIDEO}.currentTime > {position} + {seconds} || {VIDEO}.ended", seconds + 60)
    page.goto("about:blank")  # pagehide: the last report goes out by beacon
    # The browser stays open meanwhile: closing it would cancel the beacon still on its way.
    deadline = time.monotonic() + 15
    quality = None
    while (
        quality is None or not PlaybackRungTime.objects.filter(quality=quality, height=240).exists()
    ):
        if time.monotonic() > deadline:
            raise SystemExit("no QoE report with time at 240p")
        page.wait_for_timeout(200)
        quality = PlaybackQuality.objects.filter(session_id=session_id).first()
    page.wait_for_timeout(1000)  # a late periodic report may still be on its way
    context.close()
    quality.refresh_from_db()
    rungs = dict(
        PlaybackRungTime.objects.filter(quality=quality).values_list("height", "played_ms")
    )
    return {
        "rungs": rungs,
        "up": quality.switches_up,
        "down": quality.switches_down,
        "stalls": quality.stalls,
        "stalled_ms": quality.stalled_ms,
        "startup_ms": quality.startup_ms,
        "stepped_down_s": stepped_down,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=8.0, help="WATCH_SOURCE_TIMEOUT")
    parser.add_argument("--throttle-runs", type=int, default=3)
    parser.add_argument("--throttled", type=int, default=12, help="seconds played once slowed")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, which Django takes for
    # an async context; the ORM calls here are still one at a time, as in the browser tests.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with tempfile.TemporaryDirectory(prefix="streamsite-bench-") as tmp:
        work = Path(tmp)
        env = player_env(
            work,
            CIRCUIT_BREAKERS_ENABLED="false",
            WATCH_SOURCE_TIMEOUT=str(args.timeout),
            VIDEO_LADDER="480,240",
            VIDEO_SEGMENT_SECONDS="2",
            VIDEO_X264_PRESET="ultrafast",
        )
        setup_django(env)
        print("Transcoding a 60 s 480p clip with the pipeline…", flush=True)
        movie, asset = ladder_film(work)
        rates = {r.height: r.bandwidth for r in asset.renditions.all()}
        cookie = session_cookie()
        collect_static(env)
        with gunicorn(env, threads=4) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            failed_over = failover(browser, base, args.runs)
            throttled = [
                throttled_run(browser, base, cookie, movie, rates, args.throttled)
                for _ in range(args.throttle_runs)
            ]
            browser.close()

    baseline = statistics.median(failed_over["healthy"])
    print(
        f"\nFail-over in Chromium on loopback, median of {args.runs} runs, ms from the "
        f"navigation start to a player proving it plays (player timeout {args.timeout:g} s)"
    )
    for name, values in failed_over.items():
        value = statistics.median(values)
        extra = "" if name == "healthy" else f"   +{value - baseline:>6.0f} ms over healthy"
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"  Server 1 {name:12} {value:>7.0f} ms  ({value / baseline:5.1f}x){extra}  [{runs}]")
    print(
        f"\nUnder throttling (4x the 480p rung's BANDWIDTH, then 1.25x the 240p rung's: "
        f"{rates[480] / 1000:.0f} / {rates[240] / 1000:.0f} kb/s), {args.throttled} s played "
        "once slowed, per run, as the QoE reports stored it"
    )
    for number, run in enumerate(throttled, start=1):
        total = sum(run["rungs"].values()) or 1
        shares = ", ".join(
            f"{height}p {100 * ms / total:.0f} % ({ms / 1000:.1f} s)"
            for height, ms in sorted(run["rungs"].items(), reverse=True)
        )
        print(
            f"  run {number}: {shares}; switches up {run['up']}, down {run['down']}; "
            f"stalls {run['stalls']} ({run['stalled_ms']} ms); start-up {run['startup_ms']} ms; "
            f"Auto stepped down {run['stepped_down_s']:.1f} s after the network slowed"
        )


if __name__ == "__main__":
    main()
