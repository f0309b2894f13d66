"""Watch-progress REST API. Every endpoint needs a signed-in user (session cookie with CSRF, or
``Authorization: Api-Key <key>``) and only ever reads or writes that user's own progress.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication
from progress import buffer, rules, services
from progress.models import WatchProgress
from progress.watchable import is_watchable

# A heartbeat is ~150 bytes; anything this big is not one, and is refused before parsing.
MAX_BODY_BYTES = 2048
EVENTS = ("heartbeat", "play", "pause", "seek", "ended", "hide")
# sendBeacon cannot set headers, so the player's page-hide beacon is a form post carrying
# Django's CSRF token as a field (see static/js/player.js).
FORM_ONLY_FIELDS = frozenset({"csrfmiddlewaretoken"})


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"
    default_detail = f"body: the request body must be at most {MAX_BODY_BYTES} bytes."


def _check_body_size(request: Request) -> None:
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit():
        if int(declared) > MAX_BODY_BYTES:
            raise BodyTooLarge()
    elif request.method in {"POST", "PUT", "PATCH"} and len(request._request.body) > MAX_BODY_BYTES:
        # No Content-Length (chunked): Django caps what it reads at DATA_UPLOAD_MAX_MEMORY_SIZE.
        raise BodyTooLarge()


# --- Serializers ----------------------------------------------------------------------------


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know: a typo must not be silently ignored."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if hasattr(data, "keys"):
            unknown = set(data.keys()) - set(self.fields) - FORM_ONLY_FIELDS
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in sorted(unknown)}
                )
        return super().to_internal_value(data)


class FiniteNumberField(serializers.FloatField):
    """A finite number (DRF already refuses NaN and infinities); booleans are not numbers."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class HeartbeatSerializer(StrictSerializer):
    position = FiniteNumberField(min_value=0, help_text="Seconds from the start.")
    duration = FiniteNumberField(
        max_value=rules.MAX_DURATION_SECONDS, help_text="Seconds; above 0, at most 24 hours."
    )
    event = serializers.ChoiceField(choices=EVENTS, default="heartbeat")
    client_ts = serializers.IntegerField(
        help_text="The player's clock when it read the position, in milliseconds since the "
        "Unix epoch (JavaScript's Date.now()). At most 24 hours old, 5 minutes ahead."
    )
    session_id = serializers.UUIDField(required=False, allow_null=True)

    def validate_duration(self, value: float) -> float:
        if value <= 0:
            raise serializers.ValidationError("Must be greater than 0.")
        return value

    def validate_client_ts(self, value: int) -> dt.datetime:
        try:
            moment = buffer.from_ms(value)
        except OverflowError:
            raise serializers.ValidationError("Not a plausible timestamp.") from None
        now = timezone.now()
        if moment < now - rules.MAX_CLIENT_TS_AGE:
            raise serializers.ValidationError("More than 24 hours in the past.")
        if moment > now + rules.MAX_CLIENT_TS_AHEAD:
            raise serializers.ValidationError("More than 5 minutes in the future.")
        return moment

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        tolerance = rules.POSITION_TOLERANCE_SECONDS
        if attrs["position"] > attrs["duration"] + tolerance:
            message = f"Must be at most the duration plus {tolerance:g} seconds."
            raise serializers.ValidationError({"position": [message]})
        return attrs


class HeartbeatResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=["buffered", "database", "stale"],
        help_text="stale: an equal or newer position (by client_ts) was already stored.",
    )


class SessionRequestSerializer(StrictSerializer):
    movie_id = serializers.IntegerField(min_value=1)
    device = serializers.CharField(max_length=64, required=False, allow_blank=True)


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

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        _check_body_size(request)
        super().initial(request, *args, **kwargs)


def _watchable_or_404(movie_id: int) -> None:
    if not is_watchable(movie_id):
        raise exceptions.NotFound(f"No published movie with id {movie_id}.")


class SessionCreateView(ProgressAPIView):
    @extend_schema(
        request=SessionRequestSerializer, responses={201: SessionSerializer}, tags=["progress"]
    )
    def post(self, request: Request) -> Response:
        params = SessionRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        movie_id = params.validated_data["movie_id"]
        _watchable_or_404(movie_id)
        device = params.validated_data.get("device") or request.META.get("HTTP_USER_AGENT", "")
        session = services.start_viewing_session(
            user_id=request.user.pk, movie_id=movie_id, device=device
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
        request=HeartbeatSerializer, responses={202: HeartbeatResultSerializer}, tags=["progress"]
    )
    def post(self, request: Request, movie_id: int) -> Response:
        heartbeat = HeartbeatSerializer(data=request.data)
        heartbeat.is_valid(raise_exception=True)
        _watchable_or_404(movie_id)
        result = services.record_heartbeat(
            user_id=request.user.pk, movie_id=movie_id, **heartbeat.validated_data
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
