"""Transcodes run by real Celery workers on a real broker: a worker killed in the middle leaves
one complete asset once the beat sweeper has queued it again, and nothing of the dead attempt."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import m3u8
import pytest
from django.core.files import File
from django.utils import timezone

from tests.celery_worker import WorkerFactory, wait_until
from videos import pipeline, services, tasks
from videos.models import VideoAsset


def add(movie, clip: Path, *, transcode: bool) -> VideoAsset:
    with clip.open("rb") as stream:
        return services.add_video(
            movie=movie,
            source=File(stream, name=clip.name),
            probe=services.probe_file(clip),
            transcode=transcode,
        )


def running_commands(fragment: str) -> list[str]:
    result = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in result.stdout.splitlines() if fragment in line]


def state(asset: VideoAsset) -> VideoAsset:
    return VideoAsset.objects.get(pk=asset.pk)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_transcode_leaves_one_complete_asset_after_the_sweep(
    start_celery_worker: WorkerFactory, make_movie, make_clip, video_root, tmp_path
):
    clip = make_clip(seconds=16, size="854x480", rate=30)
    env = {"VIDEO_ROOT": str(video_root), "VIDEO_STALL_SECONDS": "3"}
    doomed = start_celery_worker(VIDEO_X264_PRESET="medium", **env)
    asset = add(make_movie("Heat"), clip, transcode=True)  # queued once committed: now

    wait_until(lambda: state(asset).percent >= 10, 120, "the transcode never got going", doomed)
    first = state(asset)
    doomed.process.kill()
    doomed.process.wait()

    assert first.status == VideoAsset.Status.TRANSCODING
    # The dead worker's ffmpeg ends by itself: its progress pipe has no reader any more.
    wait_until(lambda: not running_commands(f"{asset.pk}-{first.attempt}"), 30, "ffmpeg lives on")
    survivor = start_celery_worker("--beat", "--schedule", str(tmp_path / "beat"), **env)
    wait_until(lambda: state(asset).is_ready, 180, "the sweeper never restarted it", survivor)

    done = state(asset)
    assert done.attempt != first.attempt
    assert "videos.requeue_stalled" in survivor.output
    # Nothing of either attempt is left once the survivor has tidied up after itself.
    attempts = pipeline.attempts_directory()
    wait_until(lambda: not list(attempts.iterdir()), 30, "attempt files left", survivor)
    master = m3u8.load(str(done.directory / done.master_playlist))
    assert sorted(p.stream_info.resolution[1] for p in master.playlists) == [360, 480]
    for playlist in master.playlists:
        media = m3u8.load(str(done.directory / playlist.uri))
        assert media.is_endlist
        assert sum(segment.duration for segment in media.segments) == pytest.approx(16, abs=0.1)
        assert all(
            (done.directory / playlist.uri).parent.joinpath(s.uri).is_file() for s in media.segments
        )
    assert done.renditions.count() == 2


@pytest.mark.django_db
def test_the_sweeper_restarts_silent_transcodes_and_leaves_live_ones_alone(
    make_movie, make_clip, video_root
):
    clip = make_clip(seconds=4)
    silent = add(make_movie("Heat"), clip, transcode=False)
    live = add(make_movie("Ronin"), clip, transcode=False)
    long_ago = timezone.now() - dt.timedelta(hours=1)
    VideoAsset.objects.filter(pk=silent.pk).update(status="transcoding", heartbeat_at=long_ago)
    VideoAsset.objects.filter(pk=live.pk).update(status="transcoding", attempt="alive")

    assert tasks.requeue_stalled.delay().get() == 1  # tasks run eagerly in the suite

    assert state(silent).is_ready
    assert (state(live).status, state(live).attempt) == ("transcoding", "alive")
