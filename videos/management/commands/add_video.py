"""``manage.py add_video --movie <tmdb id or slug> <file>``: upload and transcode in the
foreground, the same pipeline a Celery worker runs, with a progress bar.

Exits 0 once the asset is ready; non-zero with the reason when the file is refused or the
transcode fails.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.models import Movie
from videos import pipeline, services


class Command(BaseCommand):
    help = "Add a video file to a movie and transcode it to adaptive HLS (in the foreground)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--movie", required=True, help="The movie's TMDb id or slug")
        parser.add_argument("file", help="A video file ffmpeg can read")

    def handle(self, *args: Any, **options: Any) -> None:
        movie = find_movie(options["movie"])
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            probe = services.probe_file(path)
        except services.VideoRejected as exc:
            raise CommandError(f"{path.name} was refused: {exc}") from None
        with path.open("rb") as stream:
            asset = services.add_video(
                movie=movie, source=File(stream, name=path.name), probe=probe, transcode=False
            )
        self.stdout.write(
            f"{movie.title}: {probe.width}x{probe.height}, {probe.duration:.0f} s "
            f"({probe.video_codec}{', ' + probe.audio_codec if probe.has_audio else ''})"
        )
        with tqdm(total=100, unit="%", desc="Transcoding", file=sys.stderr, disable=None) as bar:
            asset = pipeline.transcode(asset.pk, on_progress=lambda p: bar.update(p - bar.n))
        if not asset.is_ready:
            raise CommandError(f"Transcode failed ({asset.get_status_display()}): {asset.error}")
        ladder = ", ".join(str(r) for r in asset.renditions.all())
        self.stdout.write(self.style.SUCCESS(f"Ready: asset {asset.pk}, {ladder}"))


def find_movie(key: str) -> Movie:
    lookup = {"tmdb_id": int(key)} if key.isdigit() else {"slug": key}
    try:
        return Movie.objects.get(**lookup)
    except Movie.DoesNotExist:
        raise CommandError(f"No movie with TMDb id or slug {key!r}") from None
