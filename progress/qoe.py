"""Playback-quality (QoE) reports: their bounds, what a checked one holds, and metric labels.

The player measures what CMCD, which rides on every segment request, cannot carry: how long
the first frame took, how often and how long playback stalled, how long it played at each rung
of the ladder, how often it switched up or down, and the errors it met. It sends what changed
since its last report (so reports of one session add up), every 30 s and when the page is
hidden, for one source at a time.

What a report may say is checked by ``progress.serializers.QualityReportSerializer``; this
module holds its bounds, what it becomes (:class:`QualityReport`) and the metric labels.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from django.conf import settings

SOURCE = re.compile(r"^[-a-zA-Z0-9_]{1,32}$")  # a provider's slug (Provider.slug)
ERROR_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
RUNG_HEIGHT = re.compile(r"^(0|[1-9][0-9]{0,3})$")
UNKNOWN_HEIGHT = 0
MAX_MS = 24 * 3600 * 1000  # no report covers more than a day
MAX_COUNT = 100_000
MAX_RUNGS = 16
MAX_ERRORS = 32
MAX_BANDWIDTH_KBPS = 10_000_000  # 10 Gb/s
MAX_BODY_BYTES = 4096


@dataclass(frozen=True)
class PlaybackError:
    code: str
    fatal: bool


@dataclass(frozen=True)
class QualityReport:
    source: str
    startup_ms: float | None
    stalls: int
    stalled_ms: float
    played_ms: dict[int, float]  # rung height → milliseconds played at it
    switches_up: int
    switches_down: int
    bandwidth_kbps: float | None
    errors: tuple[PlaybackError, ...]
    client_ts: dt.datetime


def rung_height(key: Any) -> int:
    """The rung a ``played_ms`` key names. A key that is no height (digits, up to 9999) is time
    at a rung we cannot name (the player read no height from the playlist): counted as height
    0, never refused, since any text is a JSON key (and OpenAPI 3.0 has no way to say otherwise).
    """
    return int(key) if isinstance(key, str) and RUNG_HEIGHT.match(key) else UNKNOWN_HEIGHT


# --- Metric labels --------------------------------------------------------------------------
# Reports come from clients, so every label value they lead to is one of a known few: a source
# that is not ours or an enabled provider's, a rung outside the ladder or an error code we do
# not know is counted as "other", never as a new series.

OTHER = "other"
# hls.js's ErrorDetails (1.x) and the watch page's own codes (static/js/watch.js).
ERROR_CODES = frozenset(
    {
        # The watch page: a player that never proved it played; a <video> error without
        # hls.js; a segment every rung refused.
        "no_answer",
        "media_error",
        "refused_everywhere",
        "not_supported",
        # hls.js
        "attachMediaError",
        "audioTrackLoadError",
        "audioTrackLoadTimeOut",
        "bufferAddCodecError",
        "bufferAppendError",
        "bufferAppendingError",
        "bufferFullError",
        "bufferIncompatibleCodecsError",
        "bufferNudgeOnStall",
        "bufferSeekOverHole",
        "bufferStalledError",
        "fragDecryptError",
        "fragGap",
        "fragLoadError",
        "fragLoadTimeOut",
        "fragParsingError",
        "internalException",
        "keyLoadError",
        "keyLoadTimeOut",
        "levelEmptyError",
        "levelLoadError",
        "levelLoadTimeOut",
        "levelParsingError",
        "levelSwitchError",
        "manifestIncompatibleCodecsError",
        "manifestLoadError",
        "manifestLoadTimeOut",
        "manifestParsingError",
        "remuxAllocError",
        "subtitleTrackLoadError",
        "subtitleTrackLoadTimeOut",
    }
)

SourceNames = Callable[[], Collection[str]]
_source_names: list[SourceNames] = []


def register_source_names(names: SourceNames) -> None:
    """How the streaming app (above this one) says which sources exist: their slugs."""
    _source_names.append(names)


def source_label(source: str) -> str:
    known = any(source in names() for names in _source_names)
    return source if known else OTHER


def height_label(height: int) -> str:
    return str(height) if height in settings.VIDEO_LADDER else OTHER


def code_label(code: str) -> str:
    return code if code in ERROR_CODES else OTHER
