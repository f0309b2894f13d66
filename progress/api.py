"""Watch-progress REST API. Every endpoint needs a signed-in user (session cookie with CSRF, or
``Authorization: Api-Key <key>``) and only ever reads or writes that user's own progress; the
player's writes (heartbeats, QoE reports) may instead carry the watch page's playback token
(``progress.authentication``).

Views only translate: parse with ``progress.serializers``, call ``progress.services``, render
with ``progress.serializers``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import ApiKeyAuthentication
from progress import qoe, services
from progress.authentication import PlaybackGrant, PlaybackTokenAuthentication
from progress.serializers import (
    HEARTBEAT,
    HEARTBEAT_FORM,
    HEARTBEAT_RESULT,
    QUALITY_REPORT,
    QUALITY_RESULT,
    ContinueWatchingSerializer,
    HeartbeatFormSerializer,
    HeartbeatResultSerializer,
    HeartbeatSerializer,
    ProgressSerializer,
    QualityReportSerializer,
    QualityResultSerializer,
    SessionRequestSerializer,
    SessionSerializer,
)
from shield.decorators import PROGRESS, rate_limit
from streamsite.api import ApiView

# A heartbeat is ~150 bytes; anything this big is not one, and is refused before parsing.
MAX_BODY_BYTES = 2048
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"
    default_detail = f"body: the request body must be at most {MAX_BODY_BYTES} bytes."


def _body_too_large(request: Request, limit: int) -> bool:
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit():
        return int(declared) > limit
    # No Content-Length (chunked): Django caps what it reads at DATA_UPLOAD_MAX_MEMORY_SIZE.
    return request.method in {"POST", "PUT", "PATCH"} and len(request.body) > limit


class ProgressAPIView(ApiView):
    # Explicit credential first, so an anonymous request gets 401 with an Api-Key challenge;
    # the session cookie comes with DRF's CSRF enforcement on writes.
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    max_body_bytes = MAX_BODY_BYTES

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.refuse_big_body(request)
        super().initial(request, *args, **kwargs)

    def refuse_big_body(self, request: Request) -> None:
        if _body_too_large(request, self.max_body_bytes):
            raise BodyTooLarge(
                f"body: the request body must be at most {self.max_body_bytes} bytes."
            )


def _watchable_or_404(movie_id: int) -> None:
    if not services.is_watchable(movie_id):
        raise exceptions.NotFound(f"No published movie with id {movie_id}.")


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


# Heartbeats have their own rate-limit bucket (RATELIMIT_PROGRESS): watching a film never eats
# into the browsing allowance, and vice versa.
@rate_limit(PROGRESS)
class MovieProgressView(ProgressAPIView):
    """One movie's progress for the signed-in user: read it, send a heartbeat, or clear it.

    A playing viewer sends a heartbeat every 10 s, far more than every other request together:
    with the watch page's playback token it costs no session or user read and no CSRF check
    (the token is no cookie: another site cannot make the browser send it).
    """

    # The API key first: its challenge makes an anonymous request a 401 rather than a 403.
    authentication_classes = [
        ApiKeyAuthentication,
        PlaybackTokenAuthentication,
        SessionAuthentication,
    ]

    @extend_schema(responses=ProgressSerializer, tags=["progress"])
    def get(self, request: Request, movie_id: int) -> Response:
        _watchable_or_404(movie_id)
        progress = services.progress_of(user_id=request.user.pk, movie_id=movie_id)
        return Response(ProgressSerializer(progress).data)

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
        form = request.content_type.partition(";")[0].strip().lower() in FORM_CONTENT_TYPES
        heartbeat = (HEARTBEAT_FORM if form else HEARTBEAT).run_validation(request.data)
        _watchable_or_404(movie_id)
        result = services.record_heartbeat(user_id=request.user.pk, movie_id=movie_id, **heartbeat)
        return Response(HEARTBEAT_RESULT.to_representation({"result": result}), status=202)

    @extend_schema(request=None, responses={204: None}, tags=["progress"])
    def delete(self, request: Request, movie_id: int) -> Response:
        _watchable_or_404(movie_id)
        services.remove_from_continue_watching(user_id=request.user.pk, movie_id=movie_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HeartbeatFloorView(MovieProgressView):
    """bench/progress.py's floor: the heartbeat view's authentication, body parsing and answer,
    with nothing validated or stored. Mounted only when BENCH_ENDPOINTS=true."""

    schema = None

    def post(self, request: Request, movie_id: int) -> Response:
        request.data  # noqa: B018 - parsed as a heartbeat's body is
        return Response({"result": "stored"}, status=202)


class ContinueWatchingView(ProgressAPIView):
    """The signed-in user's unfinished movies, most recently watched first."""

    @extend_schema(responses=ContinueWatchingSerializer, tags=["progress"])
    def get(self, request: Request) -> Response:
        items = services.continue_watching(
            user_id=request.user.pk, limit=settings.PROGRESS_CONTINUE_WATCHING_LIMIT
        )
        return Response(ContinueWatchingSerializer({"results": items}).data)


# --- Playback quality (QoE) reports ------------------------------------------------------------


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
        ApiView.initial(self, request, *args, **kwargs)

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
        report = QUALITY_REPORT.run_validation(request.data)
        reports = services.record_quality_report(session=session, report=report)
        answer = {"result": "recorded", "reports": reports}
        return Response(QUALITY_RESULT.to_representation(answer), status=202)
