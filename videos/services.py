"""What other apps, the admin and the commands do with self-hosted video: the only way in.

Uploads are probed before anything is kept: a file with no video stream is refused with the
reason, and no row or file is left behind. A kept upload is transcoded by a Celery task once
the row is committed (``videos.tasks``), or in the foreground by ``manage.py add_video``.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

from django.core.files import File
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.db import transaction
from django.utils import timezone

from catalog.models import Movie
from videos import ffmpeg, tasks
from videos.models import VideoAsset

Status = VideoAsset.Status


class VideoRejected(ValueError):
    """The file cannot become a video; ``str()`` says why, for the editor."""


def playing_asset(*, movie_id: int) -> VideoAsset | None:
    """The ready asset viewers of the movie get, with its subtitles (two queries at most)."""
    asset = VideoAsset.objects.playing_for(movie_id)
    if asset is not None:
        asset.subtitles.all()  # fills the prefetch cache once
    return asset


def probe_file(path: Path) -> ffmpeg.Probe:
    try:
        return ffmpeg.probe(path)
    except ffmpeg.FFmpegError as exc:
        raise VideoRejected(str(exc)) from None


def probe_upload(upload: UploadedFile) -> ffmpeg.Probe:
    """Probe an upload where Django left it: on disk when large, else in a scratch copy."""
    if isinstance(upload, TemporaryUploadedFile):
        return probe_file(Path(upload.temporary_file_path()))
    with tempfile.NamedTemporaryFile(suffix=Path(upload.name or "").suffix) as scratch:
        for chunk in upload.chunks():
            scratch.write(chunk)
        scratch.flush()
        upload.seek(0)
        return probe_file(Path(scratch.name))


@transaction.atomic
def add_video(
    *, movie: Movie, source: File, probe: ffmpeg.Probe, transcode: bool = True
) -> VideoAsset:
    """Keep a probed source (streamed to storage in chunks) and, after commit, transcode it.

    ``transcode=False`` leaves the transcode to the caller (``manage.py add_video`` runs it in
    the foreground); the beat sweeper still picks the asset up if nobody does.
    """
    asset = VideoAsset(movie=movie, **asdict(probe))
    asset.source.save(Path(source.name or "source").name, source, save=False)
    transaction.on_commit(lambda: asset.source.close())
    asset.save()
    if transcode:
        _queue_after_commit(asset.pk)
    return asset


@transaction.atomic
def transcode_again(*, asset: VideoAsset) -> bool:
    """Queue a failed asset once more; False when it is not failed."""
    updated = VideoAsset.objects.filter(pk=asset.pk, status=Status.FAILED).update(
        status=Status.UPLOADED, percent=0, error="", heartbeat_at=timezone.now()
    )
    if updated:
        _queue_after_commit(asset.pk)
    return bool(updated)


def _queue_after_commit(asset_id: int) -> None:
    transaction.on_commit(lambda: tasks.transcode.delay(asset_id))
