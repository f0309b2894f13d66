"""The transcode pipeline on real ffmpeg: the ladder, the master playlist's measured figures,
aligned keyframes, refusals, failures and the lock."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import m3u8
import pytest
from django.core.files import File
from django.core.management import CommandError, call_command

from videos import pipeline, services
from videos.models import VideoAsset

FFPROBE = shutil.which("ffprobe") or "ffprobe"

pytestmark = pytest.mark.django_db


def master_of(asset: VideoAsset) -> m3u8.M3U8:
    return m3u8.load(str(asset.directory / asset.master_playlist))


def segment_peaks(media_playlist: Path) -> list[float]:
    """Bits per second of every segment, measured here from the files and their durations."""
    playlist = m3u8.load(str(media_playlist))
    return [
        (media_playlist.parent / segment.uri).stat().st_size * 8 / segment.duration
        for segment in playlist.segments
    ]


def keyframe_times(media_playlist: Path) -> list[float]:
    result = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey",
         "-show_entries", "frame=pts_time", "-of", "json", str(media_playlist)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [round(float(frame["pts_time"]), 2) for frame in json.loads(result.stdout)["frames"]]


def test_one_decode_makes_every_rung_up_to_the_source_height(make_movie, make_ready_asset):
    asset = make_ready_asset(make_movie("Heat"), seconds=9, size="854x480", rate=30)

    master = master_of(asset)
    rungs = sorted((p.stream_info.resolution for p in master.playlists), reverse=True)
    assert rungs == [(854, 480), (640, 360)]  # never 720p or 1080p from a 480p source
    for playlist in master.playlists:
        info = playlist.stream_info
        assert info.codecs.startswith("avc1.6400") and info.codecs.endswith(",mp4a.40.2")
        assert info.frame_rate == 30
    assert [r.height for r in asset.renditions.all()] == [480, 360]
    assert (asset.width, asset.height, asset.duration) == (854, 480, 9.0)


def test_bandwidth_is_the_measured_peak_and_average_the_mean(make_movie, make_ready_asset):
    asset = make_ready_asset(make_movie("Heat"), seconds=9, size="854x480", rate=30)

    for playlist in master_of(asset).playlists:
        peaks = segment_peaks(asset.directory / playlist.uri)
        info = playlist.stream_info
        assert info.bandwidth >= max(peaks)
        assert info.bandwidth < max(peaks) + 1  # the real peak, not a nominal bitrate
        assert min(peaks) <= info.average_bandwidth <= info.bandwidth


def test_segments_stay_within_the_target_and_keyframes_line_up(make_movie, make_ready_asset):
    asset = make_ready_asset(make_movie("Heat"), seconds=13, size="854x480", rate=30)

    keyframes = []
    for playlist in master_of(asset).playlists:
        media = m3u8.load(str(asset.directory / playlist.uri))
        assert 4 <= media.target_duration <= 6
        assert all(segment.duration <= media.target_duration for segment in media.segments)
        assert media.is_endlist and media.playlist_type == "vod"
        keyframes.append(keyframe_times(asset.directory / playlist.uri))
    assert keyframes[0] == keyframes[1]
    starts = [t - keyframes[0][0] for t in keyframes[0]]
    assert starts == [float(t) for t in range(0, 13, 2)]  # one every 2 s in every rung


def test_a_source_without_sound_gets_a_silent_ladder(make_movie, make_ready_asset):
    asset = make_ready_asset(make_movie("Heat"), seconds=4, size="640x360", audio=False)

    (playlist,) = master_of(asset).playlists
    assert playlist.stream_info.codecs == "avc1.64001e"
    assert asset.audio_codec == ""


def test_a_source_below_every_rung_keeps_its_own_height(make_movie, make_ready_asset):
    asset = make_ready_asset(make_movie("Heat"), seconds=4, size="320x240")

    assert [(r.width, r.height) for r in asset.renditions.all()] == [(320, 240)]


def test_a_file_without_video_is_refused_and_nothing_is_kept(make_movie, video_root, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a film\n")

    with pytest.raises(services.VideoRejected, match="not a video file"):
        services.probe_file(text)
    with pytest.raises(CommandError, match="notes.mp4 was refused"):
        call_command("add_video", "--movie", str(make_movie("Heat").tmdb_id), str(text))
    assert not VideoAsset.objects.exists()
    assert not any(video_root.rglob("*.mp4"))


def test_a_sound_only_file_is_refused_naming_the_problem(make_movie, video_root, tmp_path):
    sound = tmp_path / "tone.m4a"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", str(sound)],
        check=True,
    )

    with pytest.raises(services.VideoRejected, match="no video stream"):
        services.probe_file(sound)


def test_add_video_command_runs_the_pipeline_in_the_foreground(
    make_movie, make_clip, video_root, capsys
):
    movie = make_movie("Heat")

    call_command("add_video", "--movie", movie.slug, str(make_clip(seconds=4)))

    asset = VideoAsset.objects.get(movie=movie)
    assert asset.is_ready and asset.percent == 100
    assert (asset.directory / "master.m3u8").is_file()
    assert "Ready: asset" in capsys.readouterr().out


def test_add_video_command_names_an_unknown_movie(video_root, make_clip):
    with pytest.raises(CommandError, match="No movie with TMDb id or slug 'nope'"):
        call_command("add_video", "--movie", "nope", str(make_clip(seconds=4)))


def test_a_failed_transcode_keeps_ffmpegs_words_and_can_be_redone(
    make_movie, make_clip, video_root, settings: Any, django_capture_on_commit_callbacks
):
    path = make_clip(seconds=4)
    settings.VIDEO_X264_PRESET = "no-such-preset"
    with path.open("rb") as stream:
        asset = services.add_video(
            movie=make_movie("Heat"),
            source=File(stream, name=path.name),
            probe=services.probe_file(path),
            transcode=False,
        )

    failed = pipeline.transcode(asset.pk)

    assert failed.status == VideoAsset.Status.FAILED
    assert "preset" in failed.error.lower()
    assert not list(pipeline.attempts_directory().glob(f"{asset.pk}-*"))
    settings.VIDEO_X264_PRESET = "ultrafast"
    with django_capture_on_commit_callbacks(execute=True):  # tasks run eagerly in tests
        assert services.transcode_again(asset=failed)
    failed.refresh_from_db()
    assert failed.is_ready


def test_a_live_attempt_holds_the_lock_until_it_stops_reporting(make_movie, make_clip, video_root):
    path = make_clip(seconds=4)
    with path.open("rb") as stream:
        asset = services.add_video(
            movie=make_movie("Heat"),
            source=File(stream, name=path.name),
            probe=services.probe_file(path),
            transcode=False,
        )
    first = pipeline.claim(asset.pk)

    assert first is not None
    assert pipeline.claim(asset.pk) is None  # a redelivered task does nothing
    assert pipeline.transcode(asset.pk).status == VideoAsset.Status.PROBING
    VideoAsset.objects.filter(pk=asset.pk).update(heartbeat_at="2000-01-01T00:00:00Z")
    assert pipeline.transcode(asset.pk).is_ready  # the silent attempt was taken for dead


def test_a_new_upload_replaces_the_playing_one_only_once_ready(make_movie, make_ready_asset):
    movie = make_movie("Heat")
    old = make_ready_asset(movie, seconds=4)
    newer = VideoAsset.objects.create(movie=movie, source=old.source.name)

    assert services.playing_asset(movie_id=movie.pk) == old
    pipeline.transcode(newer.pk)
    assert services.playing_asset(movie_id=movie.pk) == newer


def test_a_movie_without_artwork_gets_a_poster_frame(client, make_movie, make_ready_asset):
    movie = make_movie("Heat")

    make_ready_asset(movie, seconds=4, size="640x360")

    movie.refresh_from_db()
    assert movie.poster_url().startswith("/media/posters/heat")
    response = client.get(movie.poster_url())
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"  # a JPEG


def test_a_movie_with_artwork_keeps_it(make_movie, make_ready_asset):
    movie = make_movie("Heat", poster_path="/heat.jpg")

    make_ready_asset(movie, seconds=4)

    movie.refresh_from_db()
    assert not movie.poster_file
    assert movie.poster_url().endswith("/heat.jpg")


def test_seek_previews_come_from_the_same_run_as_a_sprite_and_a_track(make_movie, make_ready_asset):
    asset = make_ready_asset(make_movie("Heat"), seconds=13, size="640x360")

    track = (asset.directory / asset.thumbnails).read_text()
    cues = [line for line in track.splitlines() if "#xywh=" in line]
    assert track.startswith("WEBVTT")
    assert "00:00:10.000 --> 00:00:13.000" in track
    assert cues == [
        "thumbnails/sprite_000.jpg#xywh=0,0,160,90",
        "thumbnails/sprite_000.jpg#xywh=160,0,160,90",
        "thumbnails/sprite_000.jpg#xywh=320,0,160,90",
    ]
    sprite = asset.directory / "thumbnails" / "sprite_000.jpg"
    size = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0",
         str(sprite)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert size == "1600,900"  # ten by ten tiles of 160x90


def test_the_ffmpeg_of_the_pip_wheel_alone_is_enough(make_movie, make_ready_asset, settings):
    # What `make run` falls back on where the system has no ffmpeg (and no ffprobe at all).
    settings.FFMPEG_BINARY = imageio_ffmpeg.get_ffmpeg_exe()

    asset = make_ready_asset(make_movie("Heat"), seconds=5, size="640x360", rate=25)

    assert (asset.width, asset.height, asset.frame_rate, asset.audio_codec) == (640, 360, 25, "aac")
    assert [r.height for r in asset.renditions.all()] == [360]
    assert (asset.directory / asset.thumbnails).is_file()
