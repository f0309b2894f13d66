"""What the progress API accepts and answers: the serializers its views parse and render with,
and so the source of its OpenAPI schema.

A heartbeat arrives every 10 s from every viewer. DRF copies every declared field into each new
serializer, which costs more than checking the heartbeat itself, so the views parse with one
instance per process (``HEARTBEAT.run_validation(data)``): fields hold no state between calls.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.validators import RegexValidator
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from progress import qoe, rules
from streamsite.api import StrictSerializer

EVENTS = ("heartbeat", "play", "pause", "seek", "ended", "hide")
# Read by authentication, never by the checks: the page-hide beacon cannot send headers.
CREDENTIAL_FIELDS = ("progress_token", "csrfmiddlewaretoken")
FORM_CSRF_HELP = "Django's CSRF token, in a form post from one of our pages (ignored otherwise)."
# NUL is refused by DRF's CharField and by PostgreSQL; as a validator, the schema says so too.
NO_NUL = RegexValidator(r"^[^\x00]*$", "Null characters are not allowed.")


# --- Fields -----------------------------------------------------------------------------------


class NumberField(serializers.FloatField):
    """A finite number; numeric text counts too (a form post has nothing else). A boolean is
    an int to Python but no number to a client."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": rules.MAX_DURATION_SECONDS,
    }
)
class DurationField(NumberField):
    """Above 0 (OpenAPI 3.0 says so with exclusiveMinimum, which DRF cannot express)."""

    default_error_messages = {"not_positive": "Must be greater than 0."}

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if value <= 0:
            self.fail("not_positive")
        return value


class TextField(serializers.CharField):
    """A string and nothing else, as the schema says (DRF's CharField also takes numbers)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "maxLength": 0}]}
)
class SessionIdField(serializers.UUIDField):
    """A viewing session's id, or empty (or null, in JSON) for none. Text only: DRF's
    UUIDField also takes integers."""

    def to_internal_value(self, data: Any) -> uuid.UUID | None:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return None if data == "" else super().to_internal_value(data)


@extend_schema_field({})
class CredentialField(serializers.Field):
    """Any value, null too: read by authentication, never by the checks (and dropped from the
    result)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        return data


IMPLAUSIBLE = "Not a plausible timestamp."


def client_ts_field(help_text: str) -> serializers.IntegerField:
    """Milliseconds since the Unix epoch on the player's clock (JavaScript's Date.now())."""
    return serializers.IntegerField(
        min_value=0,
        max_value=rules.MAX_CLIENT_TS_MS,
        error_messages={"min_value": IMPLAUSIBLE, "max_value": IMPLAUSIBLE},
        help_text=help_text,
    )


# --- Heartbeats -------------------------------------------------------------------------------


class HeartbeatSerializer(StrictSerializer):
    """A heartbeat as JSON."""

    position = NumberField(
        min_value=0, help_text="Seconds from the start; a position past the duration is the end."
    )
    duration = DurationField(
        max_value=rules.MAX_DURATION_SECONDS, help_text="Seconds; above 0, at most 24 hours."
    )
    event = serializers.ChoiceField(choices=EVENTS, default="heartbeat")
    client_ts = client_ts_field(
        "The player's clock when it read the position, in milliseconds since the Unix epoch "
        "(JavaScript's Date.now()). The newest by this clock wins, so a late one (an offline "
        "queue) is stored only if nothing newer is; one more than 5 minutes ahead of the "
        "server's clock counts as 5 minutes ahead."
    )
    session_id = SessionIdField(required=False, allow_null=True)
    progress_token = CredentialField(
        help_text="The playback token, in the page-hide beacon's form post (else the "
        "X-Progress-Token header).",
    )
    csrfmiddlewaretoken = CredentialField(help_text=FORM_CSRF_HELP)

    def validate_client_ts(self, ms: int) -> dt.datetime:
        return rules.client_time(ms, now=timezone.now())

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in CREDENTIAL_FIELDS:
            attrs.pop(name, None)
        return attrs


class HeartbeatFormSerializer(HeartbeatSerializer):
    """The same heartbeat as a form post (the page-hide beacon): every value is text, and no
    session is said with an empty value, since a form cannot send null."""

    session_id = SessionIdField(required=False)


class HeartbeatResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=["buffered", "database", "stale"],
        help_text="stale: an equal or newer position (by client_ts) was already stored.",
    )


HEARTBEAT = HeartbeatSerializer()
HEARTBEAT_FORM = HeartbeatFormSerializer()
HEARTBEAT_RESULT = HeartbeatResultSerializer()


# --- Viewing sessions and progress --------------------------------------------------------------


class SessionRequestSerializer(StrictSerializer):
    movie_id = serializers.IntegerField(min_value=1)
    session_id = SessionIdField(
        required=False,
        help_text="The id the watch page chose for this session, so the player can name it "
        "before it exists (CMCD's sid on every segment request). Sent again, it answers the same "
        "session; an id already taken otherwise is replaced by a new one.",
    )
    device = TextField(max_length=64, required=False, allow_blank=True, validators=[NO_NUL])
    csrfmiddlewaretoken = TextField(
        required=False, allow_blank=True, validators=[NO_NUL], help_text=FORM_CSRF_HELP
    )


class SessionSerializer(serializers.Serializer):
    session_id = serializers.UUIDField(source="id")
    movie_id = serializers.IntegerField()
    resume_position = serializers.FloatField(source="resumed_from")
    started_at = serializers.DateTimeField()


class ProgressSerializer(serializers.Serializer):
    """A WatchProgress (or none yet: ``progress.services.NO_PROGRESS``) as the API shows it."""

    movie_id = serializers.IntegerField()
    position = serializers.FloatField()
    duration = serializers.FloatField()
    percent = serializers.FloatField()
    completed = serializers.BooleanField()
    resume_position = serializers.FloatField(
        help_text="Where playback should start: 0 when finished or under the minimum."
    )
    updated_at = serializers.DateTimeField(allow_null=True)


class MovieCardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    slug = serializers.CharField()
    year = serializers.IntegerField(allow_null=True)
    poster_url = serializers.CharField()
    url = serializers.CharField(source="get_absolute_url")
    watch_url = serializers.CharField(source="get_watch_url")


class ContinueWatchingItemSerializer(ProgressSerializer):
    movie = MovieCardSerializer()


class ContinueWatchingSerializer(serializers.Serializer):
    results = ContinueWatchingItemSerializer(many=True)


# --- Playback quality (QoE) reports -----------------------------------------------------------
# Every field is a JSON number of the right kind (never text, a boolean or a non-finite value),
# at or above 0 and bounded, and a 400 names the field that is wrong. The bounds are far above
# any real report (one report covers at most a day) and keep one report small.


class JSONNumberField(serializers.FloatField):
    """A JSON number and nothing else: no text, no boolean."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class JSONIntegerField(serializers.IntegerField):
    """A JSON integer: 3, never 3.0, "3" or true, as JSON Schema (the OpenAPI schema) counts."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def count_field(help_text: str) -> JSONIntegerField:
    """A count since the last report."""
    return JSONIntegerField(min_value=0, max_value=qoe.MAX_COUNT, default=0, help_text=help_text)


@extend_schema_field(
    {
        "type": "object",
        "description": "Milliseconds played at each rung since the last report, by the rung's "
        'height as text ("720"). A key that is not a height (digits, at most 9999) counts as '
        '"0": a rung of unknown height.',
        "additionalProperties": {"type": "number", "minimum": 0, "maximum": qoe.MAX_MS},
        "maxProperties": qoe.MAX_RUNGS,
    }
)
class PlayedField(serializers.Field):
    """Rung height → milliseconds played at it."""

    default_error_messages = {
        "not_object": "Expected an object: rung height (text) → milliseconds.",
        "too_many": f"Ensure this object has at most {qoe.MAX_RUNGS} rungs.",
    }
    milliseconds = JSONNumberField(min_value=0, max_value=qoe.MAX_MS)

    def to_internal_value(self, data: Any) -> dict[int, float]:
        if not isinstance(data, Mapping):
            self.fail("not_object")
        if len(data) > qoe.MAX_RUNGS:
            self.fail("too_many")
        played: dict[int, float] = {}
        for key, ms in data.items():
            try:
                value = self.milliseconds.run_validation(ms)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError(f"{str(key)[:16]}: {exc.detail[0]}") from None
            height = qoe.rung_height(key)
            played[height] = played.get(height, 0.0) + value
        return played


@extend_schema_field(
    {
        "type": "array",
        "description": "Errors met since the last report: hls.js's error detail, or the "
        "watch page's own code (no_answer, media_error, refused_everywhere, not_supported).",
        "maxItems": qoe.MAX_ERRORS,
        "items": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "pattern": qoe.ERROR_CODE.pattern},
                "fatal": {"type": "boolean"},
            },
            "required": ["code", "fatal"],
            "additionalProperties": False,
        },
    }
)
class PlaybackErrorsField(serializers.Field):
    default_error_messages = {
        "not_list": 'Expected a list of {{"code", "fatal"}} objects.',  # format() braces
        "too_many": f"Ensure this list has at most {qoe.MAX_ERRORS} errors.",
        "not_error": 'Item {index}: expected an object with "code" and "fatal".',
        "code": "Item {index}: code must be 1 to 64 letters, digits, “_”, “.”, “:” or “-”.",
        "fatal": "Item {index}: fatal must be true or false.",
    }

    def to_internal_value(self, data: Any) -> tuple[qoe.PlaybackError, ...]:
        if not isinstance(data, list):
            self.fail("not_list")
        if len(data) > qoe.MAX_ERRORS:
            self.fail("too_many")
        found = []
        for index, item in enumerate(data):
            if not isinstance(item, Mapping) or set(item) != {"code", "fatal"}:
                self.fail("not_error", index=index)
            code, fatal = item["code"], item["fatal"]
            if not isinstance(code, str) or not qoe.ERROR_CODE.match(code):
                self.fail("code", index=index)
            if not isinstance(fatal, bool):
                self.fail("fatal", index=index)
            found.append(qoe.PlaybackError(code, fatal))
        return tuple(found)


class QualityReportSerializer(StrictSerializer):
    """One QoE report: what changed since the player's last report of this source."""

    source = TextField(
        max_length=32,
        validators=[
            RegexValidator(
                qoe.SOURCE.pattern, "A provider's slug: letters, digits, “-” or “_”, at most 32."
            )
        ],
        help_text="The source playing: self-hosted, or the provider's slug.",
    )
    startup_ms = JSONNumberField(
        default=None,
        allow_null=True,
        min_value=0,
        max_value=qoe.MAX_MS,
        help_text="From choosing the source to its first frame (an embed: to its ready "
        "message); sent once, in the first report after it.",
    )
    stalls = count_field("Stalls after start-up since the last report.")
    stalled_ms = JSONNumberField(
        default=0.0, min_value=0, max_value=qoe.MAX_MS, help_text="Their length, together."
    )
    played_ms = PlayedField(default=dict)
    switches_up = count_field("Rung switches to a taller rung.")
    switches_down = count_field("Rung switches to a shorter rung.")
    bandwidth_kbps = JSONNumberField(
        default=None,
        allow_null=True,
        min_value=0,
        max_value=qoe.MAX_BANDWIDTH_KBPS,
        help_text="The player's bandwidth estimate now, in kilobits per second.",
    )
    errors = PlaybackErrorsField(default=tuple)
    client_ts = JSONIntegerField(
        min_value=0,
        max_value=rules.MAX_CLIENT_TS_MS,
        error_messages={"min_value": IMPLAUSIBLE, "max_value": IMPLAUSIBLE},
        help_text="The player's clock when it sent the report, in milliseconds since the Unix "
        "epoch, as a heartbeat's: the newest report's bandwidth estimate is kept.",
    )
    progress_token = TextField(
        required=False,
        allow_blank=True,
        help_text="The playback token, in the page-hide beacon (else the X-Progress-Token header).",
    )
    csrfmiddlewaretoken = TextField(required=False, allow_blank=True, help_text=FORM_CSRF_HELP)

    def validate_client_ts(self, ms: int) -> dt.datetime:
        return rules.client_time(ms, now=timezone.now())

    def validate(self, attrs: dict[str, Any]) -> qoe.QualityReport:  # type: ignore[override]
        for name in CREDENTIAL_FIELDS:
            attrs.pop(name, None)
        return qoe.QualityReport(**attrs)


class QualityResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=["recorded"])
    reports = serializers.IntegerField(
        help_text="How many reports of this session and source are added up now."
    )


QUALITY_REPORT = QualityReportSerializer()
QUALITY_RESULT = QualityResultSerializer()
