"""From an uploaded source to a ready HLS ladder: the function the Celery task and
``manage.py add_video`` both run.

**The lock.** An attempt owns an asset while its row names the attempt and its heartbeat is
fresh: claiming is one conditional UPDATE, so two workers (a redelivered task, the sweeper's
re-queue) never transcode one asset at once, and a worker killed mid-way holds nothing once
``VIDEO_STALL_SECONDS`` have passed without a heartbeat. Every progress report renews the
heartbeat and checks the attempt still owns the row; an attempt that lost it stops ffmpeg.

**Nothing half-made.** ffmpeg writes into a directory of the attempt's own; only a finished,
measured ladder is moved into the asset's directory, and the row turns ``ready`` in the same
transaction that records its renditions. A killed attempt leaves only its own directory, which
the next attempt removes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog import services as catalog
from videos import ffmpeg, ladder
from videos.models import Rendition, VideoAsset

log = logging.getLogger(__name__)

Status = VideoAsset.Status
ATTEMPTS = ".attempts"
# Progress is written to the row at most this often (and on every whole percent change).
REPORT_EVERY_SECONDS = 1.0

ProgressCallback = Callable[[int], None]


class LockLost(Exception):
    """Another attempt took the asset over (ours was taken for dead)."""


def transcode(
    asset_id: int,
    *,
    on_progress: ProgressCallback | None = None,
    encoding: ladder.Encoding | None = None,
    poster_frame: bool = True,
) -> VideoAsset:
    """Make the asset's ladder unless it is ready or another live attempt is at it.

    ``encoding`` defaults to the settings' ladder and preset; ``poster_frame=False`` leaves a
    movie without artwork as it is (the demo's test picture would make a poor poster).

    Returns the asset as it stands afterwards: ``ready``, ``failed`` (``error`` says why), or
    untouched when there was nothing for this attempt to do.
    """
    attempt = claim(asset_id)
    if attempt is None:
        return VideoAsset.objects.get(pk=asset_id)
    asset = VideoAsset.objects.select_related("movie").get(pk=asset_id)
    work = attempts_directory() / f"{asset.pk}-{attempt}"
    try:
        _remove_other_attempts(asset, keep=work)
        probe = _probe(asset, attempt)
        encoding = encoding or ladder.Encoding.from_settings()
        rungs = ladder.rungs_for(probe, encoding)
        ladder.make_directories(work, rungs)
        reporter = _Reporter(asset.pk, attempt, on_progress)
        ffmpeg.run(
            ladder.command(Path(asset.source.path), probe, rungs, work, preset=encoding.preset),
            duration=probe.duration,
            on_progress=reporter,
        )
        if not reporter.still_ours(1.0):
            raise LockLost
        measured = [ladder.measure(rung, work, has_audio=probe.has_audio) for rung in rungs]
        (work / ladder.THUMBNAILS).write_text(ladder.thumbnails_track(probe))
        _publish(asset, attempt, work, measured)
        if poster_frame:
            _take_poster_frame(asset, probe, work)
    except LockLost:
        log.warning("video asset %s: attempt %s lost its lock and stopped", asset_id, attempt)
    except (ffmpeg.FFmpegError, OSError, ValueError) as exc:
        log.warning("video asset %s failed: %s", asset_id, exc)
        _fail(asset_id, attempt, str(exc))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    asset.refresh_from_db()
    if on_progress is not None and asset.is_ready:
        on_progress(100)
    return asset


def attempts_directory() -> Path:
    """Where attempts write: beside the assets' directories, so no signed link reaches them."""
    return Path(settings.HLS_ROOT) / ATTEMPTS


def claim(asset_id: int) -> str | None:
    """Take the asset's lock for a new attempt; None when it is ready, failed or held."""
    attempt = secrets.token_hex(8)
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.VIDEO_STALL_SECONDS)
    waiting = Q(status=Status.UPLOADED)
    abandoned = Q(status__in=[Status.PROBING, Status.TRANSCODING], heartbeat_at__lt=stale)
    taken = (
        VideoAsset.objects.filter(waiting | abandoned, pk=asset_id)
        .update(status=Status.PROBING, attempt=attempt, heartbeat_at=now, percent=0, error="")
    )  # fmt: skip
    return attempt if taken else None


def _probe(asset: VideoAsset, attempt: str) -> ffmpeg.Probe:
    probe = ffmpeg.probe(Path(asset.source.path))
    updated = VideoAsset.objects.filter(pk=asset.pk, attempt=attempt).update(
        status=Status.TRANSCODING, heartbeat_at=timezone.now(), **asdict(probe)
    )
    if not updated:
        raise LockLost
    return probe


class _Reporter:
    """ffmpeg's progress → the row's percent and heartbeat, checking the lock each time."""

    def __init__(self, asset_id: int, attempt: str, callback: ProgressCallback | None) -> None:
        self.asset_id = asset_id
        self.attempt = attempt
        self.callback = callback
        self.percent = -1
        self.reported_at = 0.0

    def __call__(self, fraction: float) -> bool:
        percent = min(99, int(fraction * 100))  # 100 only once the asset is ready
        if self.callback is not None and percent != self.percent:
            self.callback(percent)
        due = time.monotonic() - self.reported_at >= REPORT_EVERY_SECONDS
        if percent == self.percent and not due:
            return True
        self.percent = percent
        return self.still_ours(fraction)

    def still_ours(self, fraction: float) -> bool:
        self.reported_at = time.monotonic()
        return bool(
            VideoAsset.objects.filter(pk=self.asset_id, attempt=self.attempt).update(
                percent=min(99, int(fraction * 100)), heartbeat_at=timezone.now()
            )
        )


def _publish(asset: VideoAsset, attempt: str, work: Path, measured: list[ladder.Measured]) -> None:
    """Move the finished ladder into place and mark the asset ready, or leave no trace."""
    master = work / ladder.MASTER
    master.write_text(ladder.master_playlist(measured))
    asset.directory.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        # Lock the row: a sweeper cannot hand the asset to another attempt while we publish.
        if not VideoAsset.objects.select_for_update().filter(pk=asset.pk, attempt=attempt):
            raise LockLost
        for name in [*(m.rung.name for m in measured), ladder.THUMBNAIL_DIRECTORY]:
            _replace(work / name, asset.directory / name)
        os.replace(work / ladder.THUMBNAILS, asset.directory / ladder.THUMBNAILS)
        os.replace(master, asset.directory / ladder.MASTER)
        asset.renditions.all().delete()
        Rendition.objects.bulk_create(
            Rendition(
                asset=asset,
                width=m.rung.width,
                height=m.rung.height,
                bandwidth=m.bandwidth,
                average_bandwidth=m.average_bandwidth,
                codecs=m.codecs,
                playlist=m.playlist,
            )
            for m in measured
        )
        now = timezone.now()
        asset.status, asset.percent, asset.error = Status.READY, 100, ""
        asset.master_playlist, asset.ready_at, asset.heartbeat_at = ladder.MASTER, now, now
        asset.thumbnails = ladder.THUMBNAILS
        asset.save(
            update_fields=[
                "status",
                "percent",
                "error",
                "master_playlist",
                "thumbnails",
                "ready_at",
                "heartbeat_at",
                "updated_at",
            ]
        )


def _take_poster_frame(asset: VideoAsset, probe: ffmpeg.Probe, work: Path) -> None:
    """A movie with no artwork gets a frame a tenth of the way in, cropped to a 2:3 poster.

    A stand-in only: the asset is ready whether or not this works.
    """
    movie = asset.movie
    if movie.poster_path or movie.poster_file:
        return
    frame = work / "poster.jpg"
    crop = "crop='min(iw,ih*2/3)':'min(ih,iw*3/2)',scale=500:750"
    try:
        ffmpeg.run(
            ["-ss", f"{probe.duration / 10:.3f}", "-i", str(asset.source.path), "-frames:v", "1",
             "-vf", crop, "-q:v", "3", str(frame)],
            duration=0,
            on_progress=lambda fraction: True,
        )  # fmt: skip
        with frame.open("rb") as content:
            catalog.set_poster_frame(
                movie_id=movie.pk, name=f"{movie.slug}-frame.jpg", content=File(content)
            )
    except (ffmpeg.FFmpegError, OSError) as exc:
        log.warning("video asset %s: no poster frame: %s", asset.pk, exc)


def _replace(new: Path, old: Path) -> None:
    if old.exists():
        shutil.rmtree(old)
    os.replace(new, old)


def _fail(asset_id: int, attempt: str, error: str) -> None:
    VideoAsset.objects.filter(pk=asset_id, attempt=attempt).update(
        status=Status.FAILED, error=error[-4000:], heartbeat_at=timezone.now()
    )


def _remove_other_attempts(asset: VideoAsset, *, keep: Path) -> None:
    """Directories of the asset's attempts that died: we hold the lock, so none is alive."""
    for leftover in attempts_directory().glob(f"{asset.pk}-*"):
        if leftover != keep:
            shutil.rmtree(leftover, ignore_errors=True)
