"""Self-hosted video: segments delivered by nginx against the same files through Django.

    .venv/bin/python bench/transcode.py [--part all|ladder|delivery] [--rounds 3]
                                        [--clip-seconds 10] [--seconds 3] [--connections 8]
                                        [--height 720] [--threads 4]

Delivery: ffmpeg makes one real segment of the --height rung (4 s, VIDEO_SEGMENT_SECONDS'
default, at the bitrate videos/ladder.py gives that rung at 30 fps, audio included) and its
playlists under a private HLS_ROOT. The same files are then served two ways in the same run,
from a URL the app signs (``videos.signing``, exactly what a player is given):

* Django: gunicorn (2 workers x --threads, gthread as deploy/ runs it) with
  HLS_SERVED_BY_DJANGO on, the view checking the signature and sending the file (gunicorn
  hands it to sendfile()); the shield is off, as its limits would refuse a benchmark;
* nginx: the shipped template (deploy/nginx) run by the system's nginx with as many worker
  processes as gunicorn has workers, checking the same signature with secure_link.

Floors, measured beside them: /bench/bare (the cheapest Django request, no file at all) and
the same segment from nginx's /static/ (the file with no signature check). Each round measures
Django and nginx back to back on the segment and then on the master playlist, first in turn,
and the ratios reported are medians of those pairs, so background load hits both sides alike.
The issue's goal is nginx >= 10x Django on segments.

Two ratios per file. Requests per second: on loopback wrk, on the same CPUs, has to read every
byte, so for megabyte segments it is the client that sets the pace as soon as the server is
quick enough. CPU time per request of each server's processes (from /proc, as bench/shield.py
measures it; waiting for a CPU does not count): the capacity ratio of a server whose CPUs, not
its network, are the limit. On loopback the kernel's delivery of the bytes to wrk is charged to
the sender, so both servers' per-byte cost is higher than behind a real network card.

Ladder (``ladder()``, run first): the pipeline's single ffmpeg process, one decode split to
every rung, against one ffmpeg run per rung on the same generated 1080p clip, both built by
``videos.ladder.command``; wall time ratio, real-time factors, and a decode-only run to show how
much of the gain the avoided decodes explain. ``--part ladder`` or ``--part delivery`` runs one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ROOT,
    WrkResult,
    bench_env,
    gunicorn,
    manage,
    wait_until_up,
    wrk,
)
from bench.shield import cpu_seconds  # noqa: E402
from tests.deploy.edge import self_signed_certificate, site_values  # noqa: E402
from videos.ladder import AUDIO_BITRATE, BITS_PER_PIXEL  # noqa: E402

TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "streamsite.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
SIGNING_KEY = "benchmark0signing0key"
ASSET = 1
SEGMENT_SECONDS = 4  # VIDEO_SEGMENT_SECONDS' default
FRAME_RATE = 30
DELIVERY_GOAL = 10.0


# --- Delivery --------------------------------------------------------------------------------


def make_asset(hls_root: Path, height: int) -> str:
    """One real rung of asset ASSET: playlists and a constant-bitrate segment; returns the rung."""
    width = 2 * round(height * 16 / 9 / 2)
    video_bitrate = round(width * height * FRAME_RATE * BITS_PER_PIXEL)
    rung = f"{height}p"
    directory = hls_root / str(ASSET) / rung
    directory.mkdir(parents=True)
    source = f"testsrc2=size={width}x{height}:rate={FRAME_RATE}:duration={SEGMENT_SECONDS}"
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error",
         "-f", "lavfi", "-i", source,
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={SEGMENT_SECONDS}",
         # Noise and a constant bitrate: a test picture would otherwise compress to a fraction
         # of what a film's segment weighs.
         "-vf", "noise=alls=20:allf=t", "-c:v", "libx264", "-preset", "ultrafast",
         "-b:v", str(video_bitrate), "-minrate", str(video_bitrate),
         "-maxrate", str(video_bitrate), "-bufsize", str(video_bitrate),
         "-x264-params", "nal-hrd=cbr", "-c:a", "aac", "-b:a", str(AUDIO_BITRATE),
         "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod",
         "-start_number", "1", "-hls_segment_filename", str(directory / "seg_%05d.ts"),
         str(directory / "index.m3u8")],
        check=True,
    )  # fmt: skip
    bandwidth = video_bitrate + AUDIO_BITRATE
    (hls_root / str(ASSET) / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={width}x{height}\n"
        f"{rung}/index.m3u8\n"
    )
    return rung


@contextlib.contextmanager
def nginx(
    *, upstream: str, directory: Path, static_root: Path, hls_root: Path, workers: int
) -> Iterator[str]:
    """The shipped template run by the system's nginx, every pool at ``upstream``; measured on
    its plain-HTTP port inside the network (TLS is not what this compares)."""
    values = site_values(
        servers=upstream,
        directory=directory,
        certificate_dir=self_signed_certificate(directory / "tls").parent,
        static_root=static_root,
        media_root=directory / "media",
        hls_root=hls_root,
        hls_signing_key=SIGNING_KEY,
        upload_max_bytes=8 * 1024**3,
    )
    values["NGINX_ACCESS_LOG"] = "/dev/null"  # as the packages' config: no log to measure
    site = TEMPLATE.read_text()
    for name, value in values.items():
        site = site.replace("${" + name + "}", value)
    (directory / "site.conf").write_text(site)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {directory}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As the nginx packages ship it (sendfile on), with no access log: the template already
    # logs no segment, and the playlists' lines would only measure the disk.
    (directory / "nginx.conf").write_text(
        f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes {workers};
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    sendfile on;
    tcp_nopush on;
    access_log off;
{temp_paths}
    include {directory}/site.conf;
}}
"""
    )
    command = [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf")]
    subprocess.run([*command, "-t"], check=True, capture_output=True)
    process = subprocess.Popen([*command, "-g", "daemon off;"])
    base = f"http://{values['NGINX_INTERNAL_LISTEN']}"
    try:
        wait_until_up(f"{base}/static/probe.txt")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Series:
    """wrk runs of one URL, with the server's CPU time per request in each."""

    body_bytes: int | None = None  # a segment's size, for megabytes per second
    runs: list[WrkResult] = field(default_factory=list)
    cpu_per_request: list[float] = field(default_factory=list)

    def measure(self, url: str, pidfile: Path, *, seconds: int, connections: int) -> None:
        before = cpu_seconds(pidfile)
        result = wrk(url, seconds=seconds, connections=connections)
        assert result.non_2xx == 0, f"{url} answered errors"
        self.runs.append(result)
        self.cpu_per_request.append(
            (cpu_seconds(pidfile) - before) / (result.requests_per_second * seconds)
        )

    @property
    def median(self) -> WrkResult:
        return sorted(self.runs, key=lambda run: run.requests_per_second)[len(self.runs) // 2]


def row(name: str, server: str) -> str:
    return f"{name}, {'Django view' if server == 'django' else 'nginx secure_link'} (signed)"


def delivery(*, seconds: int, connections: int, rounds: int, height: int, threads: int) -> None:
    """Signed segments and playlists through nginx vs through Django under gunicorn."""
    if not Path(NGINX).exists():
        raise SystemExit("nginx is not installed (apt-get install nginx)")
    with tempfile.TemporaryDirectory(prefix="streamsite-bench-") as tmp:
        work = Path(tmp)
        video_root, static_root = work / "videos", work / "static"
        print(f"Making a {height}p segment with ffmpeg…", flush=True)
        rung = make_asset(video_root / "hls", height)
        segment = f"{rung}/seg_00001.ts"
        size = (video_root / "hls" / str(ASSET) / segment).stat().st_size
        (static_root / "bench").mkdir(parents=True)
        shutil.copy(video_root / "hls" / str(ASSET) / segment, static_root / "bench" / "seg.ts")
        (static_root / "probe.txt").write_text("up\n")

        pidfiles = {"django": work / "gunicorn.pid", "nginx": work / "nginx.pid"}
        env = bench_env(
            VIDEO_ROOT=str(video_root),
            HLS_SIGNING_KEY=SIGNING_KEY,
            HLS_SERVED_BY_DJANGO="true",
            SHIELD_ENABLED="false",
            REDIS_URL="",  # a request for a file needs no Redis, nor a database
            CELERY_TASK_ALWAYS_EAGER="true",
            STATIC_ROOT=str(work / "collected"),
            GUNICORN_CMD_ARGS=f"--pid {pidfiles['django']}",
        )
        sign = "from videos.signing import signed_url; print(signed_url({}, {!r}))"
        paths = {  # signed by the app, as a player gets them
            name: manage("shell", "-c", sign.format(ASSET, file), env=env).split()[-1]
            for name, file in (("segment", segment), ("master.m3u8", "master.m3u8"))
        }

        with (
            gunicorn(env, workers=2, threads=threads) as django,
            nginx(
                upstream=django.removeprefix("http://"),
                directory=work,
                static_root=static_root,
                hls_root=video_root / "hls",
                workers=2,
            ) as edge,
        ):
            servers = {"django": django, "nginx": edge}
            floors = {
                "Django floor: /bench/bare (no file)": ("django", "/bench/bare"),
                "nginx floor: the segment from /static/": ("nginx", "/static/bench/seg.ts"),
            }
            series = {name: Series(size if "segment" in name else None) for name in floors}
            series |= {
                row(name, server): Series(size if name == "segment" else None)
                for name in paths
                for server in servers
            }
            for server, path in [
                *floors.values(),
                *((s, p) for p in paths.values() for s in servers),
            ]:
                wrk(servers[server] + path, seconds=1, connections=connections)  # warm-up
            for round_number in range(rounds):
                runs = [(name, *where) for name, where in floors.items()]
                # Django and nginx back to back on each file, first in turn.
                turn = list(servers)[:: 1 if round_number % 2 else -1]
                runs += [(row(n, s), s, p) for n, p in paths.items() for s in turn]
                for name, server, path in runs:
                    series[name].measure(
                        servers[server] + path,
                        pidfiles[server],
                        seconds=seconds,
                        connections=connections,
                    )

    print(
        f"\nDelivery: a {height}p segment of {SEGMENT_SECONDS}s ({size / 1e6:.2f} MB) and the "
        f"master playlist; gunicorn 2 workers x {threads} threads, nginx 2 workers; wrk "
        f"{connections} connections, {seconds}s per run, median of {rounds} rounds"
    )
    print(f"  {'':<40} {'req/s':>7} {'MB/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs/req':>10}")
    for name, measured in series.items():
        result = measured.median
        body = measured.body_bytes
        print(
            f"  {name:<40} {result.requests_per_second:>7.0f} "
            + (f"{result.requests_per_second * body / 1e6:>6.0f} " if body else f"{'':>6} ")
            + f"{result.p50_ms:>7.2f} {result.p99_ms:>7.2f} "
            f"{statistics.median(measured.cpu_per_request) * 1e6:>10.0f}"
        )
    print()
    for name in paths:
        django_runs, nginx_runs = series[row(name, "django")], series[row(name, "nginx")]
        throughput = statistics.median(
            n.requests_per_second / d.requests_per_second
            for d, n in zip(django_runs.runs, nginx_runs.runs, strict=True)
        )
        capacity = statistics.median(
            d / n
            for d, n in zip(django_runs.cpu_per_request, nginx_runs.cpu_per_request, strict=True)
        )
        print(
            f"  {name:<12} nginx / Django: {throughput:5.1f}x requests per second, "
            f"{capacity:5.1f}x fewer CPU seconds per request"
        )
    print(
        f"  (goal: nginx >= {DELIVERY_GOAL:.0f}x Django on segments; on loopback wrk reading "
        "the bytes bounds requests per second, CPU per request is what a server has to give)"
    )


# --- Ladder: one decode split to every rung vs one ffmpeg run per rung ------------------------

LADDER_GOAL = 1.3


def ladder(*, clip_seconds: int, rounds: int) -> None:
    """The pipeline's one ffmpeg process against one process per rung, on a 1080p clip.

    Both sides run the very arguments the pipeline builds (``videos.ladder.command``): the
    whole ladder at once, or a ladder of one rung per run. The floor is what splitting can save
    at best: the decodes it avoids, measured as a decode-only run (``-f null``).
    """
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamsite.settings")
    django.setup()
    from videos import ffmpeg
    from videos import ladder as video_ladder

    encoding = video_ladder.Encoding.from_settings()
    with tempfile.TemporaryDirectory(prefix="streamsite-ladder-") as scratch:
        work = Path(scratch)
        source = work / "source.mp4"
        ffmpeg.run(
            ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={clip_seconds}",
             "-f", "lavfi", "-i", f"sine=frequency=440:duration={clip_seconds}",
             "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
             "-c:a", "aac", str(source)],
            duration=clip_seconds,
            on_progress=lambda fraction: True,
        )  # fmt: skip
        probe = ffmpeg.probe(source)
        rungs = video_ladder.rungs_for(probe, encoding)

        def encode(selected: list[video_ladder.Rung], name: str, thumbnails: bool) -> None:
            output = work / name
            shutil.rmtree(output, ignore_errors=True)
            video_ladder.make_directories(output, selected)
            arguments = video_ladder.command(
                source, probe, selected, output, preset=encoding.preset, thumbnails=thumbnails
            )
            ffmpeg.run(arguments, duration=probe.duration, on_progress=lambda fraction: True)

        def one_decode() -> float:
            return timed(lambda: encode(rungs, "split", thumbnails=True))

        def one_run_per_rung() -> float:
            # The seek previews once, with the first rung, as a pipeline of separate runs would.
            return timed(
                lambda: [
                    encode([rung], f"single-{rung.name}", thumbnails=index == 0)
                    for index, rung in enumerate(rungs)
                ]
            )

        def decode_only() -> float:
            null = ["-i", str(source), "-map", "0:v:0", "-f", "null", "-"]
            return timed(lambda: ffmpeg.run(null, duration=0, on_progress=lambda f: True))

        split_times, separate_times, decode_times = [], [], []
        for round_number in range(rounds):
            # Alternate which goes first, so a burst of background load hits both alike.
            order = (one_decode, one_run_per_rung)
            for measure in order if round_number % 2 == 0 else order[::-1]:
                (split_times if measure is one_decode else separate_times).append(measure())
            decode_times.append(decode_only())

    split, separate = statistics.median(split_times), statistics.median(separate_times)
    decode = statistics.median(decode_times)
    # What the avoided decodes alone would give; the rest of the gain is per-run overhead
    # (starting, reading and demuxing the source, encoding its audio once per run).
    decodes_alone = separate / max(separate - (len(rungs) - 1) * decode, 1e-9)
    heights = ", ".join(rung.name for rung in rungs)
    print(f"\nLadder: a {clip_seconds} s 1080p30 clip to {heights} "
          f"(x264 {encoding.preset}, median of {rounds} rounds)")  # fmt: skip
    print(f"  one ffmpeg, one decode, split:   {split:6.1f} s   "
          f"({clip_seconds / split:.2f}x real time)")  # fmt: skip
    print(f"  one ffmpeg run per rung ({len(rungs)}):    {separate:6.1f} s   "
          f"({clip_seconds / separate:.2f}x real time)")  # fmt: skip
    print(f"  decode alone (the floor's unit): {decode:6.1f} s")
    print(
        f"  one decode vs one run per rung: {separate / split:.2f}x "
        f"(goal >= {LADDER_GOAL}x; the {len(rungs) - 1} decodes avoided account for "
        f"{decodes_alone:.2f}x of it)"
    )


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--height", type=int, default=720, help="rung of the segment served")
    parser.add_argument(
        "--threads", type=int, default=4, help="gunicorn threads per worker (deploy/: 4)"
    )
    parser.add_argument(
        "--clip-seconds", type=int, default=10, help="length of the ladder's 1080p clip"
    )
    parser.add_argument(
        "--part", choices=["all", "delivery", "ladder"], default="all", help="what to measure"
    )
    args = parser.parse_args()

    if args.part in ("all", "ladder"):
        ladder(clip_seconds=args.clip_seconds, rounds=args.rounds)
    if args.part == "ladder":
        return
    delivery(
        seconds=args.seconds,
        connections=args.connections,
        rounds=args.rounds,
        height=args.height,
        threads=args.threads,
    )


if __name__ == "__main__":
    main()
