"""The project's clock: what expiry, back-off and lease decisions read instead of ``time``.

``monotonic()`` and ``time()`` are ``time.monotonic()`` and ``time.time()`` plus an offset that
is zero in production. Tests move it with ``advance()`` (the ``clock`` fixture in
``tests/clock_fixture.py`` does, and puts it back afterwards), so a test of "after the cool-down"
or "once the entry expired" needs no sleep. Durations that measure real work (request timings,
metrics) keep reading ``time.perf_counter()``: moving the clock must not make them lie.

Also here: how the site writes a position in a film, for people and for WebVTT files.
"""

from __future__ import annotations

import threading
import time as _time

_offset = 0.0
_offset_lock = threading.Lock()


def monotonic() -> float:
    """Seconds on a clock that never goes back: for "until when" decisions in this process."""
    return _time.monotonic() + _offset


def time() -> float:
    """Seconds since the Unix epoch: for moments shared with other processes or stored."""
    return _time.time() + _offset


def advance(seconds: float) -> None:
    """Move both clocks forward (tests only; a negative number moves them back)."""
    global _offset
    with _offset_lock:
        _offset += seconds


def reset() -> None:
    """Back to the real time."""
    global _offset
    with _offset_lock:
        _offset = 0.0


def position(seconds: float | None) -> str:
    """90 → ``1:30``, 3725 → ``1:02:05``: a position as players show it (None and below 0: 0)."""
    total = max(0, int(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def webvtt(milliseconds: int) -> str:
    """62500 → ``00:01:02.500``: a cue time as WebVTT writes it."""
    seconds, millis = divmod(milliseconds, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"
