"""``manage.py demo_videos``: give the most popular demo films a video of their own.

A new site has no uploads, and an embed provider may be out of reach, so ``make run`` calls
this after ``load_demo``: it generates one synthetic clip (a moving test picture and a tone,
with an English subtitle track) and runs the real pipeline for a few films, so the first press
of Play shows video with no network at all. The demo's ladder is small and quickly encoded
(480p, 360p, 240p, x264 ``ultrafast``): it shows the quality menu without making a first run
wait. Films that already have a ready video are left alone, and the clip is made once.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.models import Movie
from streamsite import clock
from videos import ffmpeg, pipeline, services
from videos.ladder import Encoding
from videos.models import VideoAsset
from videos.subtitles import save_subtitle

DEMO_ENCODING = Encoding(heights=(480, 360, 240), preset="ultrafast")
SUBTITLE_EVERY_SECONDS = 5


class Command(BaseCommand):
    help = "Generate a synthetic clip and transcode it for the most popular demo films."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--films", type=int, default=3, help="How many films (default 3)")
        parser.add_argument(
            "--seconds", type=int, default=60, help="Length of the clip (default 60)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        films, seconds = options["films"], options["seconds"]
        if not 0 < films <= 20 or not 5 <= seconds <= 600:
            raise CommandError("--films must be 1 to 20 and --seconds 5 to 600")
        started = time.monotonic()
        movies = list(Movie.objects.published().popular()[:films])
        ready = set(
            VideoAsset.objects.ready().filter(movie__in=movies).values_list("movie_id", flat=True)
        )
        missing = [movie for movie in movies if movie.pk not in ready]
        if missing:
            clip = demo_clip(seconds)
            for movie in missing:
                self.transcode(movie, clip)
        self.stdout.write(
            f"Demo videos: {len(movies)} films play self-hosted HLS "
            f"({len(missing)} made now) in {time.monotonic() - started:.0f} s"
        )

    def transcode(self, movie: Movie, clip: Path) -> None:
        with clip.open("rb") as stream:
            asset = services.add_video(
                movie=movie,
                source=File(stream, name=clip.name),
                probe=services.probe_file(clip),
                transcode=False,
            )
        with tqdm(total=100, unit="%", desc=movie.title[:30], file=sys.stderr) as bar:
            asset = pipeline.transcode(
                asset.pk,
                encoding=DEMO_ENCODING,
                poster_frame=False,  # the films keep their generated posters
                on_progress=lambda p: bar.update(p - bar.n),
            )
        if not asset.is_ready:
            raise CommandError(f"The demo video for {movie.title} failed: {asset.error}")
        length = int(asset.duration or 0)
        save_subtitle(asset=asset, language="en", label="English", vtt=subtitles(length))


def demo_clip(length: int) -> Path:
    """The synthetic source, made once per length (a few seconds of ffmpeg)."""
    path = Path(settings.VIDEO_ROOT) / "demo" / f"demo-{length}s.mp4"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    ffmpeg.run(
        ["-f", "lavfi", "-i", f"testsrc2=size=854x480:rate=24:duration={length}",
         "-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=4:duration={length}",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "96k", "-shortest", str(partial)],
        duration=length,
        on_progress=lambda fraction: True,
    )  # fmt: skip
    partial.replace(path)
    return path


def subtitles(length: int) -> str:
    """An English track with a cue every few seconds, so the subtitle menu has something to show."""
    cues = ["WEBVTT", ""]
    for start in range(0, length, SUBTITLE_EVERY_SECONDS):
        end = min(length, start + SUBTITLE_EVERY_SECONDS - 1)
        cues += [
            f"{clock.webvtt(start * 1000)} --> {clock.webvtt(end * 1000)}",
            f"StreamSite demo clip, second {start}.",
            "",
        ]
    return "\n".join(cues)
