"""What a heartbeat may say, checked in plain Python.

Every viewer sends one every 10 s, so this runs more often than any other code we have; a DRF
serializer spends more time copying its fields than this spends on the whole check. Both
ways in (the DRF view and the playback-token path in ``progress.api``) call :func:`parse`, so
the rules and the messages are the same whichever way a heartbeat arrives. JSON bodies give
numbers; the page-hide beacon is a form post and gives strings, so numeric strings count too.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from rest_framework.exceptions import ValidationError

from progress import rules

EVENTS = ("heartbeat", "play", "pause", "seek", "ended", "hide")
# In the order errors are reported (the first one is the 400's "detail").
FIELD_ORDER = ("position", "duration", "event", "client_ts", "session_id")
FIELDS = frozenset(FIELD_ORDER)
# Form fields the page-hide beacon adds beside the heartbeat: they are credentials, not data.
CREDENTIAL_FIELDS = frozenset({"csrfmiddlewaretoken", "progress_token"})

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_REQUIRED = "This field is required."
_NULL = "This field may not be null."


class InvalidHeartbeat(ValidationError):
    """Field name → messages. A DRF ValidationError, so DRF views answer it as one."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class HeartbeatInput:
    position: float
    duration: float
    event: str
    client_ts: dt.datetime
    session_id: uuid.UUID | None


def parse(data: Mapping[str, Any], *, now: dt.datetime | None = None) -> HeartbeatInput:
    """The heartbeat in ``data``, or :class:`InvalidHeartbeat` naming every field that is wrong."""
    if not isinstance(data, Mapping):
        raise InvalidHeartbeat({"non_field_errors": ["Expected a JSON object."]})
    errors: dict[str, list[str]] = {
        name: ["Unknown field."] for name in sorted(set(data) - FIELDS - CREDENTIAL_FIELDS)
    }
    position = _number(data, "position", errors)
    duration = _number(data, "duration", errors)
    event = data.get("event", "heartbeat")
    if event not in EVENTS:
        errors["event"] = [f'"{event}" is not a valid choice.']
    client_ts = _client_ts(data, errors, now or timezone.now())
    session_id = _session_id(data, errors)

    if position is not None and position < 0:
        errors["position"] = ["Ensure this value is greater than or equal to 0."]
    if duration is not None and duration <= 0:
        errors["duration"] = ["Must be greater than 0."]
    elif duration is not None and duration > rules.MAX_DURATION_SECONDS:
        errors["duration"] = [
            f"Ensure this value is less than or equal to {rules.MAX_DURATION_SECONDS:g}."
        ]
    if errors:
        ordered = sorted(errors, key=lambda name: FIELD_ORDER.index(name) if name in FIELDS else -1)
        raise InvalidHeartbeat({name: errors[name] for name in ordered})
    return HeartbeatInput(position, duration, event, client_ts, session_id)  # type: ignore[arg-type]


def _number(data: Mapping[str, Any], name: str, errors: dict[str, list[str]]) -> float | None:
    if name not in data:
        errors[name] = [_REQUIRED]
        return None
    raw = data[name]
    if raw is None:
        errors[name] = [_NULL]
        return None
    # A boolean is an int to Python, not a number to a client; strings come from form posts.
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        errors[name] = ["A valid number is required."]
        return None
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        errors[name] = ["A valid number is required."]
        return None
    if not math.isfinite(value):
        errors[name] = ["A finite number is required."]
        return None
    return value


def _client_ts(
    data: Mapping[str, Any], errors: dict[str, list[str]], now: dt.datetime
) -> dt.datetime | None:
    if "client_ts" not in data:
        errors["client_ts"] = [_REQUIRED]
        return None
    raw = data["client_ts"]
    ms = _integer(raw)
    if ms is None:
        errors["client_ts"] = [_NULL if raw is None else "A valid integer is required."]
        return None
    if not 0 <= ms <= rules.MAX_CLIENT_TS_MS:
        errors["client_ts"] = ["Not a plausible timestamp."]
        return None
    # However old, last write wins decides; a clock far ahead counts as MAX_CLIENT_TS_AHEAD.
    return min(_EPOCH + dt.timedelta(milliseconds=ms), now + rules.MAX_CLIENT_TS_AHEAD)


def _integer(raw: Any) -> int | None:
    """Milliseconds as the player sends them: an integer, a float without a fraction, or (from
    a form post) the digits of one."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    if isinstance(raw, str):
        text = raw.strip()
        digits = text[1:] if text[:1] == "-" else text
        return int(text) if digits.isdigit() and len(digits) <= 30 else None
    return None


def _session_id(data: Mapping[str, Any], errors: dict[str, list[str]]) -> uuid.UUID | None:
    raw = data.get("session_id")
    if raw is None or raw == "":
        return None
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        errors["session_id"] = ["Must be a valid UUID."]
        return None
