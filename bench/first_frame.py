"""Time to the first frame of our own HLS in Chromium on loopback: the watch page against
hls.js alone on a bare page (the floor), same ladder, same server, same run.

    .venv/bin/python bench/first_frame.py [--runs 10] [--height 720] [--seconds 30]

What a run measures: the watch page of a film with a ready upload, opened in a fresh browser
context (nothing cached: a first visit), from the start of its navigation
(``performance.timeOrigin``: a press of Play on the film's page starts that navigation) to the
first frame its ``<video>`` presents (``requestVideoFrameCallback``'s ``expectedDisplayTime``).
On the way: the page's HTML received, its scripts run (DOMContentLoaded, which waits for the
deferred scripts), the master playlist requested, the first segment received. The page
autoplays; Chromium runs with ``--autoplay-policy=no-user-gesture-required`` to stand for the
press of Play, since Chrome lets a page reached by a click on the same site autoplay with sound,
and a navigation the benchmark makes itself is no click.

The floor: the same signed master playlist played by hls.js alone (its defaults, play() once
the manifest is parsed) on a static page, with no Django view, no player.js or watch.js: the
ratio says what our page adds to what hls.js and the segments cost anyway. Runs alternate
between the two, and each figure is the median of ``--runs`` runs.

Server: gunicorn on loopback (2 workers x 4 threads, as deploy/ runs it) on a private SQLite
database, with Django serving the signed HLS files and the static files (HLS_SERVED_BY_DJANGO
and WhiteNoise, as ``make run`` does; nginx serves both in production, and bench/transcode.py
compares the two for segments). The ladder is made by the real pipeline (``videos.pipeline``)
from a clip ffmpeg generates: --height high, --seconds long, laddered by VIDEO_LADDER's
defaults. On a machine with few CPUs, Chromium and gunicorn share them: read the ratio first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, bench_env, collect_static, gunicorn  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
SIGNING_KEY = "benchmark0signing0key"
HLS_VERSION_FILE = ROOT / "static" / "vendor" / "hls.js" / "hls.min.js"

# Installed before any page script: watches for the <video> watch.js (or the floor) adds and
# notes when its first frame is presented, relative to the navigation start.
FIRST_FRAME_PROBE = """
(() => {
  const seen = new WeakSet();
  const watch = (video) => {
    if (seen.has(video)) return;
    seen.add(video);
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
  return {
    html: nav.responseEnd,
    scripts: nav.domContentLoadedEventStart,
    master: master ? master.startTime : null,
    segment: segments.length ? Math.min(...segments.map((r) => r.responseEnd)) : null,
    frame: window.__firstFrame,
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


def prepare(env: dict[str, str], work: Path, *, height: int, seconds: int) -> tuple[str, str]:
    """Migrate the private database and transcode a film; returns its watch URL and the
    signed master playlist URL."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.files import File
    from django.core.management import call_command

    from catalog.services import MovieData, upsert_movie
    from videos import pipeline, services, signing

    call_command("migrate", verbosity=0)
    movie, _ = upsert_movie(
        data=MovieData(tmdb_id=949, title="Heat", release_date=None, genres=()), publish=True
    )
    clip = make_clip(work / "clip.mp4", height=height, seconds=seconds)
    with clip.open("rb") as stream:
        asset = services.add_video(
            movie=movie,
            source=File(stream, name=clip.name),
            probe=services.probe_file(clip),
            transcode=False,
        )
    asset = pipeline.transcode(asset.pk)
    if not asset.is_ready:
        raise SystemExit(f"the transcode failed: {asset.error}")
    rungs = ", ".join(f"{r.height}p" for r in asset.renditions.all())
    print(f"Ladder: {rungs} ({seconds} s, {settings_segment()} s segments)")
    return movie.get_watch_url(), signing.signed_url(asset.pk, asset.master_playlist)


def settings_segment() -> int:
    from django.conf import settings

    return settings.VIDEO_SEGMENT_SECONDS


def measure(browser: Any, url: str) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    # Nothing leaves the machine (the seeded embed provider is not loaded, but make sure).
    context.route(
        "**/*",
        lambda route, request: (
            route.continue_()
            if "127.0.0.1" in request.url or request.url.startswith("blob:")
            else route.abort()
        ),
    )
    context.add_init_script(FIRST_FRAME_PROBE)
    page = context.new_page()
    try:
        page.goto(url)
        deadline = time.monotonic() + 30
        while not page.evaluate("window.__firstFrame"):
            if time.monotonic() > deadline:
                raise SystemExit(f"no frame within 30 s at {url}")
            page.wait_for_timeout(20)
        return page.evaluate(MILESTONES)
    finally:
        context.close()


def median(runs: list[dict[str, float]], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="streamsite-bench-") as tmp:
        work = Path(tmp)
        env = bench_env(
            DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}",
            VIDEO_ROOT=str(work / "videos"),
            STATIC_ROOT=str(work / "static"),
            HLS_SIGNING_KEY=SIGNING_KEY,
            HLS_SERVED_BY_DJANGO="true",
            SHIELD_ENABLED="false",
            CELERY_TASK_ALWAYS_EAGER="true",
            DJANGO_SETTINGS_MODULE="streamsite.settings",
        )
        env.pop("REDIS_URL", None)  # a local-memory cache: nothing else to start
        print(f"Transcoding a {args.height}p clip with the pipeline…", flush=True)
        watch_path, master_url = prepare(env, work, height=args.height, seconds=args.seconds)
        collect_static(env)
        (work / "static" / "bench-floor.html").write_text(FLOOR_PAGE)
        (work / "static" / "bench-floor.js").write_text(FLOOR_SCRIPT)
        with gunicorn(env, threads=4) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            pages = {
                "watch page": f"{base}{watch_path}",
                "floor: hls.js alone": f"{base}/static/bench-floor.html#{master_url}",
            }
            for url in pages.values():  # warm gunicorn's workers and the file cache
                measure(browser, url)
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in pages}
            for _ in range(args.runs):
                for name, url in pages.items():
                    runs[name].append(measure(browser, url))
            browser.close()

    print(
        f"\nFirst frame in Chromium on loopback, median of {args.runs} runs, ms from the "
        "navigation start (a fresh context each run: nothing cached)"
    )
    names = list(pages)
    print(f"{'':34}" + "".join(f"{name:>22}" for name in names))
    for key, label in LABELS.items():
        cells = []
        for name in names:
            value = median(runs[name], key)
            cells.append(f"{value:>22.0f}" if value is not None else f"{'-':>22}")
        print(f"{label:34}" + "".join(cells))
    watch, floor = median(runs[names[0]], "frame"), median(runs[names[1]], "frame")
    if watch and floor:
        print(
            f"\nwatch page: first frame {watch:.0f} ms after pressing Play "
            f"({watch / floor:.2f}x the floor of hls.js alone, {floor:.0f} ms)"
        )


if __name__ == "__main__":
    main()
