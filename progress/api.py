"""Watch-progress REST API. Every endpoint needs a signed-in user (session cookie with CSRF, or
``Authorization: Api-Key <key>``) and only ever reads or writes that user's own progress.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication
from progress import buffer, payload, qoe, rules, services, tokens
from progress.authentication import PlaybackGrant, PlaybackTokenAuthentication
from progress.models import WatchProgress
from progress.watchable import is_watchable
from streamsite.api import invalid_body, json_error

# A heartbeat is ~150 bytes; anything this big is not one, and is refused before parsing.
MAX_BODY_BYTES = 2048
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"
    default_detail = f"body: the request body must be at most {MAX_BODY_BYTES} bytes."


def _body_too_large(request: HttpRequest, limit: int = MAX_BODY_BYTES) -> bool:
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit():
        return int(declared) > limit
    # No Content-Length (chunked): Django caps what it reads at DATA_UPLOAD_MAX_MEMORY_SIZE.
    return request.method in {"POST", "PUT", "PATCH"} and len(request.body) > limit


# --- Serializers ----------------------------------------------------------------------------


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know: a typo must not be silently ignored."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if hasattr(data, "keys"):
            unknown = set(data.keys()) - set(self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in sorted(unknown)}
                )
        return super().to_internal_value(data)


# NUL is refused by DRF's CharField and by PostgreSQL; as a validator, the schema says so too.
NO_NUL = RegexValidator(r"^[^\x00]*$", "Null characters are not allowed.")
FORM_CSRF_HELP = "Django's CSRF token, in a form post from one of our pages (ignored otherwise)."


class TextField(serializers.CharField):
    """A string and nothing else, as the schema says (DRF's CharField also takes numbers)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
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
class DurationField(serializers.FloatField):
    """Above 0 (OpenAPI 3.0 says so with exclusiveMinimum, which DRF cannot express)."""


@extend_schema_field({})
class CredentialField(serializers.Field):
    """Any value: read by authentication, never by the heartbeat's checks."""


@extend_schema_field(
    {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "maxLength": 0}]}
)
class SessionIdField(serializers.UUIDField):
    """A viewing session's id, or empty (or null, in JSON) for none."""


class HeartbeatSerializer(serializers.Serializer):
    """The request body, for the OpenAPI schema; ``progress.payload.parse`` checks it."""

    position = serializers.FloatField(
        min_value=0, help_text="Seconds from the start; a position past the duration is the end."
    )
    duration = DurationField(help_text="Seconds; above 0, at most 24 hours.")
    event = serializers.ChoiceField(choices=payload.EVENTS, default="heartbeat")
    client_ts = serializers.IntegerField(
        min_value=0,
        max_value=rules.MAX_CLIENT_TS_MS,
        help_text="The player's clock when it read the position, in milliseconds since the "
        "Unix epoch (JavaScript's Date.now()). The newest by this clock wins, so a late one "
        "(an offline queue) is stored only if nothing newer is; one more than 5 minutes ahead "
        "of the server's clock counts as 5 minutes ahead.",
    )
    session_id = SessionIdField(required=False, allow_null=True)
    # Credentials, not data: payload.parse leaves them to authentication, whatever they hold.
    progress_token = CredentialField(
        required=False,
        help_text="The playback token, in the page-hide beacon's form post (else the "
        "X-Progress-Token header).",
    )
    csrfmiddlewaretoken = CredentialField(required=False, help_text=FORM_CSRF_HELP)


class HeartbeatFormSerializer(HeartbeatSerializer):
    """The same heartbeat as a form post (the page-hide beacon): every value is text, and no
    session is said with an empty value, since a form cannot send null."""

    session_id = SessionIdField(required=False)


class HeartbeatResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=["buffered", "database", "stale"],
        help_text="stale: an equal or newer position (by client_ts) was already stored.",
    )


class ChosenSessionIdField(SessionIdField):
    """The id the page chose; empty (a form's way of saying none) for none."""

    def to_internal_value(self, data: Any) -> uuid.UUID | None:
        if not isinstance(data, str):  # DRF's UUIDField also takes integers
            self.fail("invalid", value=data)
        return None if data == "" else super().to_internal_value(data)


class SessionRequestSerializer(StrictSerializer):
    movie_id = serializers.IntegerField(min_value=1)
    session_id = ChosenSessionIdField(
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


def _progress_data(progress: WatchProgress | None, movie_id: int) -> dict[str, Any]:
    if progress is None:
        return {
            "movie_id": movie_id,
            "position": 0.0,
            "duration": 0.0,
            "percent": 0.0,
            "completed": False,
            "resume_position": 0.0,
            "updated_at": None,
        }
    return {
        "movie_id": progress.movie_id,
        "position": progress.position,
        "duration": progress.duration,
        "percent": progress.percent(),
        "completed": progress.is_completed(),
        "resume_position": progress.resume_position(),
        "updated_at": progress.updated_at,
    }


# --- Views --------------------------------------------------------------------------------


class ProgressAPIView(APIView):
    # Explicit credential first, so an anonymous request gets 401 with an Api-Key challenge;
    # the session cookie comes with DRF's CSRF enforcement on writes.
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    max_body_bytes = MAX_BODY_BYTES

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.refuse_big_body(request)
        super().initial(request, *args, **kwargs)

    def refuse_big_body(self, request: Request) -> None:
        if _body_too_large(request._request, self.max_body_bytes):
            raise BodyTooLarge(
                f"body: the request body must be at most {self.max_body_bytes} bytes."
            )


def _not_published(movie_id: int) -> str:
    return f"No published movie with id {movie_id}."


def _watchable_or_404(movie_id: int) -> None:
    if not is_watchable(movie_id):
        raise exceptions.NotFound(_not_published(movie_id))


class SessionCreateView(ProgressAPIView):
    @extend_schema(
        request=SessionRequestSerializer,
        responses={
            201: SessionSerializer,
            404: OpenApiResponse(description="No published movie with that movie_id"),
        },
        tags=["progress"],
    )
    def post(self, request: Request) -> Response:
        params = SessionRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        movie_id = params.validated_data["movie_id"]
        _watchable_or_404(movie_id)
        device = params.validated_data.get("device") or request.META.get("HTTP_USER_AGENT", "")
        session = services.start_viewing_session(
            user_id=request.user.pk,
            movie_id=movie_id,
            device=device,
            session_id=params.validated_data.get("session_id"),
        )
        return Response(SessionSerializer(session).data, status=status.HTTP_201_CREATED)


class MovieProgressView(ProgressAPIView):
    """One movie's progress for the signed-in user: read it, send a heartbeat, or clear it."""

    @extend_schema(responses=ProgressSerializer, tags=["progress"])
    def get(self, request: Request, movie_id: int) -> Response:
        _watchable_or_404(movie_id)
        progress = buffer.get_progress(user_id=request.user.pk, movie_id=movie_id)
        return Response(ProgressSerializer(_progress_data(progress, movie_id)).data)

    @extend_schema(
        request={
            "application/json": HeartbeatSerializer,
            "application/x-www-form-urlencoded": HeartbeatFormSerializer,
            "multipart/form-data": HeartbeatFormSerializer,
        },
        responses={202: HeartbeatResultSerializer},
        parameters=[
            OpenApiParameter(
                "X-Progress-Token",
                location=OpenApiParameter.HEADER,
                required=False,
                description="The playback token of the watch page: authenticates this "
                "viewer's heartbeats for this movie alone, with no cookie or CSRF token.",
            )
        ],
        tags=["progress"],
    )
    def post(self, request: Request, movie_id: int) -> Response:
        heartbeat = payload.parse(request.data)
        _watchable_or_404(movie_id)
        result = services.record_heartbeat(
            user_id=request.user.pk, movie_id=movie_id, **vars(heartbeat)
        )
        return Response({"result": result}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={204: None}, tags=["progress"])
    def delete(self, request: Request, movie_id: int) -> Response:
        _watchable_or_404(movie_id)
        services.remove_from_continue_watching(user_id=request.user.pk, movie_id=movie_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContinueWatchingView(ProgressAPIView):
    """The signed-in user's unfinished movies, most recently watched first."""

    @extend_schema(responses=ContinueWatchingSerializer, tags=["progress"])
    def get(self, request: Request) -> Response:
        items = buffer.continue_watching(
            user_id=request.user.pk, limit=settings.PROGRESS_CONTINUE_WATCHING_LIMIT
        )
        results = [{**_progress_data(item, item.movie_id), "movie": item.movie} for item in items]
        return Response(ContinueWatchingSerializer({"results": results}).data)


# --- Playback quality (QoE) reports ------------------------------------------------------------


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
    """Documents ``played_ms``; ``progress.qoe.parse`` checks it."""


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
    """Documents ``errors``; ``progress.qoe.parse`` checks it."""


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": qoe.MAX_COUNT})
class CountField(serializers.IntegerField):
    """A count since the last report."""


@extend_schema_field({"type": "number", "minimum": 0, "maximum": qoe.MAX_MS})
class MillisecondsField(serializers.FloatField):
    """Milliseconds since the last report."""


class QualityReportSerializer(serializers.Serializer):
    """The request body, for the OpenAPI schema; ``progress.qoe.parse`` checks it."""

    source = serializers.RegexField(
        qoe.SOURCE.pattern,
        max_length=32,
        help_text="The source playing: self-hosted, or the provider's slug.",
    )
    startup_ms = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=qoe.MAX_MS,
        help_text="From choosing the source to its first frame (an embed: to its ready "
        "message); sent once, in the first report after it.",
    )
    stalls = CountField(required=False, help_text="Stalls after start-up since the last report.")
    stalled_ms = MillisecondsField(required=False, help_text="Their length, together.")
    played_ms = PlayedField(required=False)
    switches_up = CountField(required=False, help_text="Rung switches to a taller rung.")
    switches_down = CountField(required=False, help_text="Rung switches to a shorter rung.")
    bandwidth_kbps = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=qoe.MAX_BANDWIDTH_KBPS,
        help_text="The player's bandwidth estimate now, in kilobits per second.",
    )
    errors = PlaybackErrorsField(required=False)
    client_ts = serializers.IntegerField(
        min_value=0,
        max_value=rules.MAX_CLIENT_TS_MS,
        help_text="The player's clock when it sent the report, in milliseconds since the Unix "
        "epoch, as a heartbeat's: the newest report's bandwidth estimate is kept.",
    )
    progress_token = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The playback token, in the page-hide beacon (else the X-Progress-Token header).",
    )
    csrfmiddlewaretoken = serializers.CharField(
        required=False, allow_blank=True, help_text=FORM_CSRF_HELP
    )


class QualityResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=["recorded"])
    reports = serializers.IntegerField(
        help_text="How many reports of this session and source are added up now."
    )


class QualityReportView(ProgressAPIView):
    """One QoE report of the viewer's own viewing session: added to what was reported before."""

    # The API key first: its challenge makes an anonymous request a 401 rather than a 403.
    authentication_classes = [
        ApiKeyAuthentication,
        PlaybackTokenAuthentication,
        SessionAuthentication,
    ]
    parser_classes = [JSONParser]
    max_body_bytes = qoe.MAX_BODY_BYTES

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Who asks, then which session, then the body's size: an answer about a session is
        # only for its viewer (a 404 for anyone else, whatever they send).
        APIView.initial(self, request, *args, **kwargs)

    @extend_schema(
        request={"application/json": QualityReportSerializer},
        responses={
            202: QualityResultSerializer,
            404: OpenApiResponse(description="No viewing session of yours has this id"),
        },
        parameters=[
            OpenApiParameter(
                "X-Progress-Token",
                location=OpenApiParameter.HEADER,
                required=False,
                description="The playback token of the session's movie: no cookie or CSRF "
                "token needed with it.",
            )
        ],
        tags=["progress"],
        summary="Report the playback quality of a viewing session (start-up, stalls, rungs, "
        "errors)",
    )
    def post(self, request: Request, session_id: uuid.UUID) -> Response:
        session = services.viewing_session(session_id=session_id, user_id=request.user.pk)
        grant = request.auth
        if session is None or (
            isinstance(grant, PlaybackGrant) and grant.movie_id != session.movie_id
        ):
            # Another viewer's session is none of this one's business: as if it did not exist.
            raise exceptions.NotFound("No viewing session of yours has this id.")
        self.refuse_big_body(request)
        report = qoe.parse(request.data)
        reports = services.record_quality_report(session=session, report=report)
        return Response({"result": "recorded", "reports": reports}, status=202)


# --- Heartbeats with a playback token -----------------------------------------------------------

View = Callable[..., HttpResponse]


def taking_token_heartbeats(drf_view: View) -> View:
    """Answer heartbeats that carry a valid playback token (``progress.tokens``) before DRF.

    A playing viewer sends one every 10 s, far more than every other request together, so
    these skip what they do not need: DRF's request wrapping, the session and user reads and
    the CSRF check (the token is no cookie: another site cannot make the browser send it).
    They keep everything else: the same checks and messages (``progress.payload``), the same
    404 for a movie that is not published, the same service call. Every other request, and a
    heartbeat whose token does not check out, goes to ``drf_view``.
    """

    @functools.wraps(drf_view)  # keeps DRF's csrf_exempt and .cls, so the schema still sees it
    def view(request: HttpRequest, movie_id: int) -> HttpResponse:
        if request.method == "POST" and not _body_too_large(request):
            user_id = tokens.user_id_for(_token(request), movie_id=movie_id)
            if user_id is not None:
                return _token_heartbeat(request, user_id=user_id, movie_id=movie_id)
        return drf_view(request, movie_id=movie_id)

    return view


def _token(request: HttpRequest) -> str | None:
    token = request.META.get(tokens.HEADER)
    if token is None and request.content_type in FORM_CONTENT_TYPES:
        token = request.POST.get(tokens.FORM_FIELD)  # the page-hide beacon
    return token


def _token_heartbeat(request: HttpRequest, *, user_id: int, movie_id: int) -> JsonResponse:
    if request.content_type in FORM_CONTENT_TYPES:
        data: Any = request.POST
    elif request.content_type == "application/json":
        try:
            data = json.loads(request.body)
        except ValueError as exc:
            return json_error(400, "parse_error", f"JSON parse error - {exc}")
    else:
        return json_error(
            415, "unsupported_media_type", f'Unsupported media type "{request.content_type}".'
        )
    try:
        heartbeat = payload.parse(data)
    except payload.InvalidHeartbeat as exc:
        return JsonResponse(invalid_body(exc.errors), status=400)
    if not is_watchable(movie_id):
        return json_error(404, "not_found", _not_published(movie_id))
    result = services.record_heartbeat(user_id=user_id, movie_id=movie_id, **vars(heartbeat))
    return JsonResponse({"result": result}, status=202)


movie_progress = taking_token_heartbeats(MovieProgressView.as_view())
