"""Running ffmpeg: finding the binary, probing a source, and following a transcode's progress.

Only ffmpeg itself is needed, not ffprobe: the pip wheel that ``make run`` can fall back on
(imageio-ffmpeg) ships ffmpeg alone, so probing reads the stream report ffmpeg prints for its
input, which every build prints the same way.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# How much of ffmpeg's error output a failed asset keeps for the editor.
ERROR_TAIL_LINES = 12
PROBE_TIMEOUT_SECONDS = 60

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+)(?P<rest>.*)")
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+)")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)\b")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees|displaymatrix: rotation of (-?[\d.]+)")


class FFmpegError(Exception):
    """ffmpeg failed; ``str()`` is what an editor should read."""


def binary() -> str:
    """``FFMPEG_BINARY``, else ``ffmpeg`` on PATH, else the binary of the imageio-ffmpeg wheel."""
    if settings.FFMPEG_BINARY:
        return settings.FFMPEG_BINARY
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - requirements.txt installs it
        raise ImproperlyConfigured(
            "No ffmpeg found: install it (apt-get install ffmpeg) or set FFMPEG_BINARY"
        ) from None
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Probe:
    """What a source holds, as far as the ladder cares (named as VideoAsset's fields)."""

    duration: float
    width: int
    height: int
    video_codec: str
    frame_rate: float
    audio_codec: str  # "" when the file has no sound

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codec)


def probe(path: Path) -> Probe:
    """Read a file's streams; ``FFmpegError`` naming the problem when it holds no video."""
    if not path.is_file():
        raise FFmpegError(f"The file {path.name} is missing.")
    try:
        result = subprocess.run(  # noqa: S603 - our binary, arguments as a list
            [binary(), "-hide_banner", "-nostdin", "-i", str(path)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=PROBE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise FFmpegError("ffmpeg took too long to read the file.") from None
    # With no output file named, ffmpeg always exits 1 after printing what it found.
    report = result.stderr
    video = _VIDEO.search(report)
    if video is None:
        if "Invalid data found" in report or "could not find codec" in report.lower():
            raise FFmpegError("This is not a video file ffmpeg can read.")
        raise FFmpegError("The file has no video stream.")
    size = _SIZE.search(video.group("rest"))
    duration = _DURATION.search(report)
    if size is None:
        raise FFmpegError("The video stream has no picture size.")
    if duration is None:
        raise FFmpegError("The file does not say how long it is.")
    hours, minutes, seconds = duration.groups()
    length = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if length <= 0:
        raise FFmpegError("The video is empty (0 seconds long).")
    width, height = int(size.group(1)), int(size.group(2))
    if _is_rotated_sideways(report):
        width, height = height, width
    audio = _AUDIO.search(report)
    return Probe(
        duration=length,
        width=width,
        height=height,
        video_codec=video.group(1),
        frame_rate=_frame_rate(video.group("rest")),
        audio_codec=audio.group(1) if audio else "",
    )


def _frame_rate(stream: str) -> float:
    found = _FPS.search(stream)
    if found is None:
        return 25.0  # what ffmpeg assumes for a stream that does not say
    rate = float(found.group(1)) * (1000 if found.group(2) else 1)
    return rate if 0 < rate <= 240 else 25.0


def _is_rotated_sideways(report: str) -> bool:
    # Phones record portrait video as landscape frames plus a rotation; ffmpeg applies it.
    found = _ROTATION.search(report)
    if found is None:
        return False
    degrees = abs(float(found.group(1) or found.group(2))) % 180
    return degrees == 90


def run(
    arguments: Sequence[str],
    *,
    duration: float,
    on_progress: Callable[[float], bool],
) -> None:
    """Run ffmpeg with ``arguments``, calling ``on_progress(fraction)`` as it goes.

    ``on_progress`` returns False to stop the run (its lock was lost): ffmpeg is ended and
    ``FFmpegError`` raised. A failure raises ``FFmpegError`` with the last lines ffmpeg wrote.
    """
    command = [binary(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats"]
    command += ["-progress", "pipe:1", *arguments]
    process = subprocess.Popen(  # noqa: S603 - our binary, arguments as a list
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    if process.stdout is None or process.stderr is None:  # pragma: no cover - PIPE given
        raise FFmpegError("ffmpeg's output could not be read.")
    errors: collections.deque[str] = collections.deque(maxlen=ERROR_TAIL_LINES)
    reader = threading.Thread(target=errors.extend, args=(process.stderr,), daemon=True)
    reader.start()
    stopped = False
    finished = False
    try:
        for line in process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit() and duration > 0:
                if not on_progress(min(1.0, int(value) / 1e6 / duration)):
                    stopped = True
                    break
        else:
            finished = True
    finally:
        if not finished:  # stopped, or on_progress raised: no orphan ffmpeg left running
            process.kill()
        process.wait()
        reader.join(timeout=5)
    if stopped:
        raise FFmpegError("Stopped: another attempt took over this transcode.")
    if process.returncode != 0:
        tail = "".join(errors).strip() or f"ffmpeg exited with status {process.returncode}"
        raise FFmpegError(tail)
