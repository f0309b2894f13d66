"""Time to first frame and stall ratio of the demo HLS in Chromium on loopback, unthrottled and
with the network held to a DSL line: the watch page against hls.js alone on a bare page (the
floor) for the first frame, the watch page's own QoE reports for the stalls.

    .venv/bin/python bench/first_frame.py [--runs 10] [--play 25] [--kbps 1500] [--latency 20]

The video is what a new user plays after ``make run``, made the same way: ``manage.py
demo_videos`` for one film (its 60 s synthetic clip, its 480p/360p/240p ladder at x264
``ultrafast``, VIDEO_SEGMENT_SECONDS's segments, its English subtitles).

Two conditions in one run: unthrottled, and with the page's network held to --kbps kbit/s
down with --latency ms per request through the DevTools protocol
(``Network.emulateNetworkConditions``). In each, runs alternate between the two pages, each
run in a fresh browser context (nothing cached: a first visit), one warm-up run of each page
first; each figure is the median of --runs runs.

Time to first frame: from the start of the navigation (``performance.timeOrigin``: a press of
Play on the film's page starts that navigation) to the first frame its ``<video>`` presents
(``requestVideoFrameCallback``'s ``expectedDisplayTime``), with the milestones on the way: the
page's HTML received, its scripts run (DOMContentLoaded, which waits for the deferred
scripts), the master playlist requested, the first segment received. The page autoplays;
Chromium runs with ``--autoplay-policy=no-user-gesture-required`` to stand for the press of
Play. The floor plays the same signed master playlist with hls.js alone (its defaults, play()
once the manifest is parsed) on a static page, with no Django view, no player.js or watch.js:
the ratio says what our page adds to what hls.js and the segments cost anyway. The start-up
rung is the rung of the first segment each page asked for.

Stall ratio: each watch-page run is a new signed-in viewer, so the page reports its playback
quality as it does for every signed-in viewer (static/js/qoe.js). After its first frame it
plays --play s of the film, then is left (page hide: the last report goes out by sendBeacon);
the ratio is stalled / (played + stalled) time of that viewing session as the server stored
it, the figure operators see on the statistics page. qoe.js counts a stall from a ``waiting``
after the first frame to the next ``playing`` (start-up is not a stall, nor a seek's wait).
Beside it, the same count kept on the ``<video>`` element by a script of the benchmark's own,
over the media time played: the two should agree; a run whose reports never all reach the
server is counted as such and left out of the QoE figure.

The load average (1 min) is sampled before each run: Chromium (its renderer, hls.js's worker,
the decoder) and gunicorn share the machine's CPUs with whatever else runs; read it with the
figures, and the ratio to the floor first.

Server: gunicorn on loopback (2 workers x 4 threads, as deploy/ runs it) on a PostgreSQL
database of its own (a report and a heartbeat may arrive together), with Django serving the
signed HLS files and the static files (HLS_SERVED_BY_DJANGO and WhiteNoise, as ``make run``
does; nginx serves both in production, and bench/transcode.py compares the two for segments).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_DATABASE_URL, collect_static, gunicorn  # noqa: E402
from bench.playback import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    film,
    fresh_context,
    player_env,
    session_cookie,
    setup_django,
    throttle,
    wait_for,
)

DATABASE_URL = BENCH_DATABASE_URL.rsplit("/", 1)[0] + "/streamsite_bench_first_frame"

# Installed before any page script: watches for the <video> watch.js (or the floor) adds, notes
# when its first frame is presented, relative to the navigation start, and from then on adds up
# its stalls (a `waiting` while playing, not seeking, to the next `playing`): what the QoE
# reports should say, seen from outside the page's scripts.
FIRST_FRAME_PROBE = """
(() => {
  const seen = new WeakSet();
  window.__stalls = 0;
  window.__stalledMs = 0;
  const watch = (video) => {
    if (seen.has(video)) return;
    seen.add(video);
    let stalledAt = null;
    const resume = () => {
      if (stalledAt !== null) window.__stalledMs += performance.now() - stalledAt;
      stalledAt = null;
    };
    video.addEventListener("waiting", () => {
      if (window.__firstFrame && !video.seeking && !video.paused && stalledAt === null) {
        stalledAt = performance.now();
        window.__stalls += 1;
      }
    });
    for (const name of ["playing", "pause", "seeking", "ended"]) {
      video.addEventListener(name, resume);
    }
    video.requestVideoFrameCallback((now, frame) => {
      window.__firstFrame = frame.expectedDisplayTime || now;
    });
  };
  new MutationObserver(() => document.querySelectorAll("video").forEach(watch))
    .observe(document, { childList: true, subtree: true });
})();
"""

MILESTONES = """
(() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const master = resources.find((r) => r.name.includes("/master.m3u8"));
  const segments = resources.filter((r) => r.name.includes(".ts"));
  segments.sort((a, b) => a.startTime - b.startTime);
  return {
    html: nav.responseEnd,
    scripts: nav.domContentLoadedEventStart,
    master: master ? master.startTime : null,
    segment: segments.length ? Math.min(...segments.map((r) => r.responseEnd)) : null,
    frame: window.__firstFrame,
    first_segment_url: segments.length ? segments[0].name : null,
  };
})()
"""
LABELS = {
    "html": "HTML received",
    "scripts": "scripts run (DOMContentLoaded)",
    "master": "master playlist requested",
    "segment": "first segment received",
    "frame": "first frame presented",
}
VIDEO = "document.querySelector('#player video')"

FLOOR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Floor</title></head>
<body style="margin:0;background:#000">
<video style="width:100vw;height:56.25vw" controls playsinline></video>
<script src="/static/vendor/hls.js/hls.min.js"></script>
<script src="/static/bench-floor.js"></script>
</body></html>
"""
FLOOR_SCRIPT = """
var video = document.querySelector("video");
var hls = new Hls();
hls.on(Hls.Events.MANIFEST_PARSED, function () { video.play(); });
hls.loadSource(decodeURIComponent(location.hash.slice(1)));
hls.attachMedia(video);
"""


def prepare(env: dict[str, str]) -> tuple[str, str, str]:
    """A fresh database and the demo video for one film; returns its watch path, the signed
    master playlist URL and a line describing the ladder."""
    setup_django(env)
    from django.conf import settings
    from django.core.management import call_command

    from videos import signing
    from videos.models import VideoAsset

    movie = film(949, "Heat")
    call_command("demo_videos", films=1)
    asset = VideoAsset.objects.ready().get(movie=movie)
    rungs = ", ".join(
        f"{r.height}p {r.bandwidth / 1000:.0f} kb/s" for r in asset.renditions.order_by("-height")
    )
    ladder = (
        f"{rungs}; {settings.VIDEO_SEGMENT_SECONDS} s segments, {asset.duration:.0f} s "
        "(BANDWIDTH as the master playlist states it)"
    )
    return movie.get_watch_url(), signing.signed_url(asset.pk, asset.master_playlist), ladder


def quality_of(session_id: str, played_s: float) -> dict[str, Any]:
    """What the server stored for the viewing session once the page-hide report is in; None
    for each figure if the reports of the time played never all arrived."""
    from progress.models import PlaybackQuality

    deadline = time.monotonic() + 30
    while True:
        quality = PlaybackQuality.objects.filter(session_id=session_id).first()
        if quality is not None and quality.played_ms >= 1000 * (played_s - 1):
            break
        if time.monotonic() > deadline:
            stored = quality.played_ms / 1000 if quality else 0
            print(f"  QoE reports incomplete: {stored:.1f} s of {played_s:.1f} s played stored")
            return {"stall_ratio": None, "stalls": None, "stalled_ms": None}
        time.sleep(0.2)
    time.sleep(0.5)  # a periodic report may have crossed the beacon
    quality.refresh_from_db()
    watched = quality.played_ms + quality.stalled_ms
    return {
        "stall_ratio": quality.stalled_ms / watched if watched else 0.0,
        "stalls": quality.stalls,
        "stalled_ms": quality.stalled_ms,
    }


def measure(
    browser: Any,
    base: str,
    path: str,
    *,
    kbps: float,
    latency: float,
    viewer: str = "",
    play: float = 0,
) -> dict[str, Any]:
    """One run in a fresh context: the first-frame milestones, the rung of the first segment
    and, for a viewer who plays on, what the QoE reports stored."""
    context = fresh_context(browser, base, session_cookie(viewer) if viewer else "")
    context.add_init_script(FIRST_FRAME_PROBE)
    page = context.new_page()
    try:
        if kbps:
            devtools = context.new_cdp_session(page)
            devtools.send("Network.enable")
            throttle(devtools, kbps * 1000, latency_ms=latency)
        page.goto(path, wait_until="commit")
        wait_for(page, "window.__firstFrame", 60)
        result = page.evaluate(MILESTONES)
        rung = re.search(r"/(\d+p)/", result.pop("first_segment_url") or "")
        result["rung"] = rung.group(1) if rung else "?"
        if play:
            wait_for(page, f"{VIDEO}.currentTime >= {play} || {VIDEO}.ended", 3 * play + 60)
            played, stalls, stalled_ms = page.evaluate(
                f"[{VIDEO}.currentTime, window.__stalls, window.__stalledMs]"
            )
            result["element_stall_ratio"] = stalled_ms / (1000 * played + stalled_ms)
            result["element_stalls"] = stalls
            player = page.locator("#player")
            session_id = player.get_attribute("data-session-started") or player.get_attribute(
                "data-session-id"
            )
            # Page hide sends the last report by beacon; the context stays open meanwhile, as
            # closing it would cancel the beacon on its way.
            page.goto("about:blank")
            result.update(quality_of(session_id, played))
        return result
    finally:
        context.close()


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def percent(ratio: float | None) -> str:
    return f"{100 * ratio:.1f} %" if ratio is not None else "-"


def number(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--play", type=float, default=25, help="seconds played per watch run")
    parser.add_argument("--kbps", type=float, default=1500, help="the throttled download rate")
    parser.add_argument("--latency", type=float, default=20, help="ms added when throttled")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, which Django takes for
    # an async context; the ORM calls here are still one at a time.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    conditions = {
        "unthrottled": (0.0, 0.0),
        f"{args.kbps / 1000:g} Mbit/s": (args.kbps, args.latency),
    }
    pages = ("watch page", "floor")
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    loads: dict[str, list[float]] = {name: [] for name in conditions}
    load_at_start = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="streamsite-bench-") as tmp:
        work = Path(tmp)
        env = player_env(work, DATABASE_URL)
        print("Making the demo video (manage.py demo_videos)…", flush=True)
        watch_path, master_url, ladder = prepare(env)
        print(f"Ladder: {ladder}", flush=True)
        collect_static(env)
        (work / "static" / "bench-floor.html").write_text(FLOOR_PAGE)
        (work / "static" / "bench-floor.js").write_text(FLOOR_SCRIPT)
        paths = {"watch page": watch_path, "floor": f"/static/bench-floor.html#{master_url}"}
        viewers = iter(range(1, 1_000_000))
        with gunicorn(env, threads=4) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            for condition, (kbps, latency) in conditions.items():
                print(f"{condition}: {args.runs} runs of each page…", flush=True)
                for name in pages:  # warm gunicorn's workers and the file cache
                    measure(browser, base, paths[name], kbps=kbps, latency=latency)
                for _ in range(args.runs):
                    for name in pages:
                        loads[condition].append(os.getloadavg()[0])
                        watching = name == "watch page"
                        runs.setdefault((condition, name), []).append(
                            measure(
                                browser,
                                base,
                                paths[name],
                                kbps=kbps,
                                latency=latency,
                                viewer=f"viewer-{next(viewers)}" if watching else "",
                                play=args.play if watching else 0,
                            )
                        )
            browser.close()

    report(args, conditions, pages, runs, loads, load_at_start, ladder)


def report(
    args: argparse.Namespace,
    conditions: dict[str, tuple[float, float]],
    pages: tuple[str, ...],
    runs: dict[tuple[str, str], list[dict[str, Any]]],
    loads: dict[str, list[float]],
    load_at_start: tuple[float, float, float],
    ladder: str,
) -> None:
    print(
        f"\nThe demo HLS in Chromium on loopback, median of {args.runs} runs, each in a fresh "
        f"context (nothing cached); throttled: {args.kbps:g} kbit/s down, {args.latency:g} ms "
        f"latency (DevTools)\nLadder: {ladder}\n"
    )
    columns = [(condition, name) for condition in conditions for name in pages]
    print(f"{'ms from the navigation start':34}" + "".join(f"{c:>16}" for c, _ in columns))
    print(f"{'':34}" + "".join(f"{name:>16}" for _, name in columns))
    for key, label in LABELS.items():
        cells = [median(runs[column], key) for column in columns]
        print(
            f"{label:34}" + "".join(f"{v:>16.0f}" if v is not None else f"{'-':>16}" for v in cells)
        )
    rungs = [
        ", ".join(f"{rung} x{n}" for rung, n in Counter(r["rung"] for r in runs[c]).items())
        for c in columns
    ]
    print(f"{'start-up rung (first segment)':34}" + "".join(f"{r:>16}" for r in rungs))

    print(f"\n{f'watch page, {args.play:g} s played':34}" + "".join(f"{c:>16}" for c in conditions))
    watching = {c: runs[c, "watch page"] for c in conditions}
    rows = {
        "first frame / the floor's": lambda c: (
            f"{median(watching[c], 'frame') / median(runs[c, 'floor'], 'frame'):.2f}x"
        ),
        "stall ratio (QoE reports)": lambda c: percent(median(watching[c], "stall_ratio")),
        "stall ratio (the <video> element)": lambda c: percent(
            median(watching[c], "element_stall_ratio")
        ),
        "stalls (QoE / <video>)": lambda c: (
            f"{number(median(watching[c], 'stalls'))} / "
            f"{number(median(watching[c], 'element_stalls'))}"
        ),
        "stalled ms (QoE)": lambda c: number(median(watching[c], "stalled_ms")),
        "runs with complete QoE reports": lambda c: (
            f"{sum(r['stall_ratio'] is not None for r in watching[c])} of {len(watching[c])}"
        ),
        "load average 1 min (median/max)": lambda c: (
            f"{statistics.median(loads[c]):.2f}/{max(loads[c]):.2f}"
        ),
    }
    for label, cell in rows.items():
        print(f"{label:34}" + "".join(f"{cell(c):>16}" for c in conditions))
    for condition in conditions:
        each = ", ".join(
            f"{number(r['stalls'])} ({number(r['stalled_ms'])} ms; <video> {r['element_stalls']})"
            for r in watching[condition]
        )
        print(f"  stalls in each run (QoE), {condition}: {each}")
    end_load = os.getloadavg()
    print(
        "Load average (1/5/15 min) at the start "
        f"{'/'.join(f'{v:.2f}' for v in load_at_start)}, at the end "
        f"{'/'.join(f'{v:.2f}' for v in end_load)}, on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
