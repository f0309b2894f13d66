"""The adaptive ladder: which rungs to make, the one ffmpeg command that makes them all, and the
master playlist written from what was actually produced.

One decode feeds every rung: ``split`` copies the decoded frames to one scaler and one x264
encoder per rung. Four separate runs would decode the source four times (bench/transcode.py).
Every rung gets a keyframe at the same instants (every ``VIDEO_KEYFRAME_SECONDS``, scene cuts
off), so segments line up across rungs and a player can switch rung at any segment boundary.

ffmpeg's own master playlist repeats the bitrates we asked for. Players choose a rung by
comparing ``BANDWIDTH`` with their measured throughput, so it must be the real peak: we measure
every segment written (bits / duration) and take the peak and the mean.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from videos.ffmpeg import Probe

MASTER = "master.m3u8"
MEDIA_PLAYLIST = "index.m3u8"
SEGMENT_PATTERN = "seg_%05d.ts"
AUDIO_CODECS = "mp4a.40.2"  # AAC-LC
AUDIO_BITRATE = 128_000
# Video bits per pixel per frame: ~5 Mb/s for 1080p30, ~2.2 Mb/s for 720p30; plenty for x264
# at these sizes, and the cap (maxrate) keeps peaks near it so BANDWIDTH stays honest.
BITS_PER_PIXEL = 0.08
MIN_VIDEO_BITRATE = 200_000

# H.264 levels: (level_idc, max macroblocks per second, max frame size in macroblocks).
H264_LEVELS = (
    (30, 40_500, 1_620),
    (31, 108_000, 3_600),
    (32, 216_000, 5_120),
    (40, 245_760, 8_192),
    (42, 522_240, 8_704),
    (50, 589_824, 22_080),
    (51, 983_040, 36_864),
    (52, 2_073_600, 36_864),
)

# Seek previews: a frame every THUMBNAIL_SECONDS, THUMBNAIL_WIDTH wide, COLUMNS x ROWS to a sprite
# (a 2-hour film: 15 sprites of about 150 kB), located by a WebVTT track players understand.
THUMBNAILS = "thumbnails.vtt"
THUMBNAIL_DIRECTORY = "thumbnails"
THUMBNAIL_SECONDS = 5
THUMBNAIL_WIDTH = 160
THUMBNAIL_COLUMNS, THUMBNAIL_ROWS = 10, 10

_EXTINF = re.compile(r"^#EXTINF:([\d.]+),")


@dataclass(frozen=True)
class Encoding:
    """Which rungs to make and how hard x264 works at them: the settings, or the demo's own."""

    heights: tuple[int, ...]
    preset: str

    @classmethod
    def from_settings(cls) -> Encoding:
        return cls(tuple(settings.VIDEO_LADDER), settings.VIDEO_X264_PRESET)


@dataclass(frozen=True)
class Rung:
    width: int
    height: int
    frame_rate: float
    video_bitrate: int

    @property
    def name(self) -> str:
        return f"{self.height}p"

    @property
    def level_idc(self) -> int:
        """The smallest H.264 level that holds this picture size and frame rate."""
        frame_mbs = math.ceil(self.width / 16) * math.ceil(self.height / 16)
        per_second = frame_mbs * self.frame_rate
        for level, max_rate, max_frame in H264_LEVELS:
            if per_second <= max_rate and frame_mbs <= max_frame:
                return level
        return H264_LEVELS[-1][0]

    @property
    def video_codecs(self) -> str:
        # High profile (0x64), no constraint flags, then the level: what x264 writes in the SPS.
        return f"avc1.6400{self.level_idc:02x}"


@dataclass(frozen=True)
class Measured:
    """A rung as written: peak and mean bits per second over its segments."""

    rung: Rung
    bandwidth: int
    average_bandwidth: int
    codecs: str

    @property
    def playlist(self) -> str:
        return f"{self.rung.name}/{MEDIA_PLAYLIST}"


def rungs_for(source: Probe, encoding: Encoding) -> list[Rung]:
    """The encoding's heights no taller than the source (the source's own if all are)."""
    tallest_first = sorted(encoding.heights, reverse=True)
    heights = [h for h in tallest_first if h <= source.height] or [_even(source.height)]
    frame_rate = source.frame_rate
    rungs = []
    for height in heights:
        width = _even(source.width * height / source.height)
        bitrate = max(MIN_VIDEO_BITRATE, round(width * height * frame_rate * BITS_PER_PIXEL))
        rungs.append(Rung(width, height, frame_rate, bitrate))
    return rungs


def _even(value: float) -> int:
    # x264 needs even dimensions for 4:2:0 chroma.
    return max(2, 2 * round(value / 2))


def make_directories(output: Path, rungs: list[Rung]) -> None:
    """The directories ``command`` writes into (ffmpeg makes none of them)."""
    for name in [*(rung.name for rung in rungs), THUMBNAIL_DIRECTORY]:
        (output / name).mkdir(parents=True, exist_ok=True)


def thumbnail_size(source: Probe) -> tuple[int, int]:
    return THUMBNAIL_WIDTH, _even(THUMBNAIL_WIDTH * source.height / source.width)


def command(
    source: Path,
    probe: Probe,
    rungs: list[Rung],
    output: Path,
    *,
    preset: str,
    thumbnails: bool = True,
) -> list[str]:
    """ffmpeg arguments (after the global ones) making every rung in ``output/<name>/``, and
    the seek-preview sprites in ``output/thumbnails/``, all from one decode."""
    count = len(rungs)
    branches = count + 1 if thumbnails else count
    splits = "".join(f"[split{i}]" for i in range(branches))
    graph = [f"[0:v:0]split={branches}{splits}"]
    graph += [
        f"[split{i}]scale={rung.width}:{rung.height}:flags=bicubic,format=yuv420p[out{i}]"
        for i, rung in enumerate(rungs)
    ]
    if thumbnails:
        width, height = thumbnail_size(probe)
        graph.append(
            f"[split{count}]fps=1/{THUMBNAIL_SECONDS},scale={width}:{height},"
            f"tile={THUMBNAIL_COLUMNS}x{THUMBNAIL_ROWS}[thumbs]"
        )
    keyframe = settings.VIDEO_KEYFRAME_SECONDS
    arguments = ["-i", str(source), "-filter_complex", ";".join(graph)]
    for i in range(count):
        arguments += ["-map", f"[out{i}]"]
        if probe.has_audio:
            arguments += ["-map", "0:a:0"]
    arguments += [
        "-c:v", "libx264", "-preset", preset, "-profile:v", "high",
        # Keyframes at the same instants in every rung, and nowhere else (no scene cuts).
        "-force_key_frames", f"expr:gte(t,n_forced*{keyframe})", "-sc_threshold", "0",
        "-g", str(math.ceil(probe.frame_rate * keyframe)),
    ]  # fmt: skip
    for i, rung in enumerate(rungs):
        arguments += [
            f"-b:v:{i}", str(rung.video_bitrate),
            f"-maxrate:v:{i}", str(round(rung.video_bitrate * 1.2)),
            f"-bufsize:v:{i}", str(rung.video_bitrate * 2),
            f"-level:v:{i}", f"{rung.level_idc / 10:.1f}",
        ]  # fmt: skip
    if probe.has_audio:
        arguments += ["-c:a", "aac", "-b:a", str(AUDIO_BITRATE), "-ac", "2"]
    streams = " ".join(
        f"v:{i},a:{i},name:{rung.name}" if probe.has_audio else f"v:{i},name:{rung.name}"
        for i, rung in enumerate(rungs)
    )
    arguments += [
        "-f", "hls",
        "-hls_time", str(settings.VIDEO_SEGMENT_SECONDS),
        "-hls_playlist_type", "vod",
        "-hls_flags", "independent_segments",
        "-hls_segment_filename", str(output / "%v" / SEGMENT_PATTERN),
        "-var_stream_map", streams,
        str(output / "%v" / MEDIA_PLAYLIST),
    ]  # fmt: skip
    if thumbnails:  # a second output: one JPEG per full (or last) sprite
        arguments += [
            "-map", "[thumbs]", "-c:v", "mjpeg", "-q:v", "5", "-fps_mode", "vfr",
            "-start_number", "0", "-f", "image2",
            str(output / THUMBNAIL_DIRECTORY / "sprite_%03d.jpg"),
        ]  # fmt: skip
    return arguments


def thumbnails_track(source: Probe) -> str:
    """The WebVTT track pointing every THUMBNAIL_SECONDS of the film at its tile in a sprite."""
    width, height = thumbnail_size(source)
    per_sprite = THUMBNAIL_COLUMNS * THUMBNAIL_ROWS
    lines = ["WEBVTT", ""]
    count = math.ceil(source.duration / THUMBNAIL_SECONDS)
    for index in range(count):
        start = index * THUMBNAIL_SECONDS
        end = min(source.duration, start + THUMBNAIL_SECONDS)
        sprite, tile = divmod(index, per_sprite)
        row, column = divmod(tile, THUMBNAIL_COLUMNS)
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{THUMBNAIL_DIRECTORY}/sprite_{sprite:03d}.jpg"
            f"#xywh={column * width},{row * height},{width},{height}",
            "",
        ]
    return "\n".join(lines)


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis / 1000:06.3f}"


def measure(rung: Rung, directory: Path, *, has_audio: bool) -> Measured:
    """Peak and mean bits per second of a rung's segments, read from its media playlist."""
    playlist = directory / rung.name / MEDIA_PLAYLIST
    peak = 0.0
    bits = 0
    seconds = 0.0
    duration = None
    for line in playlist.read_text().splitlines():
        found = _EXTINF.match(line)
        if found:
            duration = float(found.group(1))
        elif line and not line.startswith("#") and duration:
            size = (playlist.parent / line).stat().st_size * 8
            peak = max(peak, size / duration)
            bits += size
            seconds += duration
            duration = None
    if not seconds:
        raise ValueError(f"{playlist} lists no segments")
    codecs = f"{rung.video_codecs},{AUDIO_CODECS}" if has_audio else rung.video_codecs
    return Measured(rung, math.ceil(peak), math.ceil(bits / seconds), codecs)


def master_playlist(measured: list[Measured]) -> str:
    """The master playlist: every rung, lowest first, with what was measured."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in sorted(measured, key=lambda m: m.bandwidth):
        rung = rendition.rung
        attributes = ",".join(
            [
                f"BANDWIDTH={rendition.bandwidth}",
                f"AVERAGE-BANDWIDTH={rendition.average_bandwidth}",
                f"RESOLUTION={rung.width}x{rung.height}",
                f'CODECS="{rendition.codecs}"',
                f"FRAME-RATE={rung.frame_rate:.3f}",
            ]
        )
        lines += [f"#EXT-X-STREAM-INF:{attributes}", rendition.playlist]
    return "\n".join(lines) + "\n"
