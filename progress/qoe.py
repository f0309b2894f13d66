"""What a playback-quality (QoE) report may say, checked in plain Python like a heartbeat.

The player measures what CMCD, which rides on every segment request, cannot carry: how long
the first frame took, how often and how long playback stalled, how long it played at each rung
of the ladder, how often it switched up or down, and the errors it met. It sends what changed
since its last report (so reports of one session add up), every 30 s and when the page is
hidden, for one source at a time.

Every field is a JSON number of the right kind (never a string, a boolean or a non-finite
value), at or above 0 and bounded, and a 400 names the field that is wrong. The bounds are far
above any real report (one report covers at most a day) and keep one report small.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from progress import rules

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

# In the order errors are reported (the first one is the 400's "detail").
FIELD_ORDER = (
    "source",
    "startup_ms",
    "stalls",
    "stalled_ms",
    "played_ms",
    "switches_up",
    "switches_down",
    "bandwidth_kbps",
    "errors",
    "client_ts",
)
FIELDS = frozenset(FIELD_ORDER)
# Read by authentication, never by these checks: the page-hide beacon cannot send headers.
CREDENTIAL_FIELDS = frozenset({"progress_token", "csrfmiddlewaretoken"})

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_REQUIRED = "This field is required."


class InvalidReport(ValidationError):
    """Field name → messages. A DRF ValidationError, so DRF views answer it as one."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


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


def parse(data: Any, *, now: dt.datetime | None = None) -> QualityReport:
    """The report in ``data``, or :class:`InvalidReport` naming every field that is wrong."""
    if not isinstance(data, Mapping):
        raise InvalidReport({"non_field_errors": ["Expected a JSON object."]})
    errors: dict[str, list[str]] = {
        str(name): ["Unknown field."]
        for name in sorted(set(data) - FIELDS - CREDENTIAL_FIELDS, key=str)
    }
    for name in sorted(CREDENTIAL_FIELDS & set(data)):
        if not isinstance(data[name], str):
            errors[name] = ["Not a valid string."]
    source = data.get("source")
    if "source" not in data:
        errors["source"] = [_REQUIRED]
    elif not isinstance(source, str) or not SOURCE.match(source):
        errors["source"] = ["A provider's slug: letters, digits, “-” or “_”, at most 32."]
    report = QualityReport(
        source=source if isinstance(source, str) else "",
        startup_ms=_number(data, "startup_ms", errors, MAX_MS, nullable=True),
        stalls=int(_number(data, "stalls", errors, MAX_COUNT, integer=True) or 0),
        stalled_ms=_number(data, "stalled_ms", errors, MAX_MS) or 0.0,
        played_ms=_played(data, errors),
        switches_up=int(_number(data, "switches_up", errors, MAX_COUNT, integer=True) or 0),
        switches_down=int(_number(data, "switches_down", errors, MAX_COUNT, integer=True) or 0),
        bandwidth_kbps=_number(data, "bandwidth_kbps", errors, MAX_BANDWIDTH_KBPS, nullable=True),
        errors=_errors(data, errors),
        client_ts=_client_ts(data, errors, now or timezone.now()),  # type: ignore[arg-type]
    )
    if errors:
        ordered = sorted(errors, key=lambda name: FIELD_ORDER.index(name) if name in FIELDS else -1)
        raise InvalidReport({name: errors[name] for name in ordered})
    return report


def _is_number(raw: Any) -> bool:
    # A boolean is an int to Python, not a number to a client.
    return isinstance(raw, int | float) and not isinstance(raw, bool)


def _checked(raw: Any, maximum: float, *, integer: bool = False) -> tuple[float | None, str]:
    """(value, "") for a number within [0, maximum], else (None, the message). An integer is
    a JSON integer: 3, never 3.0, as JSON Schema (the OpenAPI schema) counts them."""
    if not _is_number(raw) or (integer and not isinstance(raw, int)):
        return None, "A valid integer is required." if integer else "A valid number is required."
    try:
        value = float(raw)
    except OverflowError:  # an integer beyond any float
        return None, f"Ensure this value is less than or equal to {maximum:g}."
    if not math.isfinite(value):
        return None, "A finite number is required."
    if value < 0:
        return None, "Ensure this value is greater than or equal to 0."
    if value > maximum:
        return None, f"Ensure this value is less than or equal to {maximum:g}."
    return value, ""


def _number(
    data: Mapping[str, Any],
    name: str,
    errors: dict[str, list[str]],
    maximum: float,
    *,
    integer: bool = False,
    nullable: bool = False,
) -> float | None:
    """An optional field: absent is 0 (None when ``nullable``: not measured in this report)."""
    raw = data.get(name)
    if raw is None:
        if name in data and not nullable:
            errors[name] = ["This field may not be null."]
        return None
    value, problem = _checked(raw, maximum, integer=integer)
    if problem:
        errors[name] = [problem]
    return value


def _played(data: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[int, float]:
    raw = data.get("played_ms", {})
    if not isinstance(raw, Mapping):
        errors["played_ms"] = ["Expected an object: rung height (text) → milliseconds."]
        return {}
    if len(raw) > MAX_RUNGS:
        errors["played_ms"] = [f"Ensure this object has at most {MAX_RUNGS} rungs."]
        return {}
    played: dict[int, float] = {}
    for key, ms in raw.items():
        value, problem = _checked(ms, MAX_MS)
        if problem:
            errors["played_ms"] = [f"{str(key)[:16]}: {problem}"]
            return {}
        # A key that is no height (digits, up to 9999) is time at a rung we cannot name: the
        # player read no height from the playlist. Counted as height 0, never refused, since
        # any text is a JSON key (and OpenAPI 3.0 has no way to say otherwise).
        height = int(key) if isinstance(key, str) and RUNG_HEIGHT.match(key) else UNKNOWN_HEIGHT
        played[height] = played.get(height, 0.0) + (value or 0.0)
    return played


def _errors(data: Mapping[str, Any], errors: dict[str, list[str]]) -> tuple[PlaybackError, ...]:
    raw = data.get("errors", [])
    if not isinstance(raw, list):
        errors["errors"] = ['Expected a list of {"code", "fatal"} objects.']
        return ()
    if len(raw) > MAX_ERRORS:
        errors["errors"] = [f"Ensure this list has at most {MAX_ERRORS} errors."]
        return ()
    found = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) != {"code", "fatal"}:
            errors["errors"] = [f'Item {index}: expected an object with "code" and "fatal".']
            return ()
        code, fatal = item["code"], item["fatal"]
        if not isinstance(code, str) or not ERROR_CODE.match(code):
            errors["errors"] = [
                f"Item {index}: code must be 1 to 64 letters, digits, “_”, “.”, “:” or “-”."
            ]
            return ()
        if not isinstance(fatal, bool):
            errors["errors"] = [f"Item {index}: fatal must be true or false."]
            return ()
        found.append(PlaybackError(code, fatal))
    return tuple(found)


def _client_ts(
    data: Mapping[str, Any], errors: dict[str, list[str]], now: dt.datetime
) -> dt.datetime | None:
    """As a heartbeat's: however old, and one far ahead counts as MAX_CLIENT_TS_AHEAD ahead."""
    if "client_ts" not in data:
        errors["client_ts"] = [_REQUIRED]
        return None
    raw = data["client_ts"]
    if not _is_number(raw) or not isinstance(raw, int):
        errors["client_ts"] = ["A valid integer is required."]
        return None
    ms = raw
    if not 0 <= ms <= rules.MAX_CLIENT_TS_MS:
        errors["client_ts"] = ["Not a plausible timestamp."]
        return None
    return min(_EPOCH + dt.timedelta(milliseconds=ms), now + rules.MAX_CLIENT_TS_AHEAD)


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
