"""Streaming API: the sources of a movie, and the player URL of one of them with options.

Both answer from ``streaming.sources.resolve`` (cached per movie, circuit state live). When no
source can play, the answer is a 503 in the shared error shape with ``Retry-After`` set to the
moment the soonest open circuit lets a probe through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from streaming import services, sources
from streaming.models import Provider
from streaming.providers.base import HEX_COLOR, normalize_color
from streaming.sources import RankedSource, Resolution
from streamsite.api import ApiView, StrictParams, StrictSerializer

MAX_START_SECONDS = 24 * 60 * 60  # nothing we serve is a day long; more is a client bug


# --- Query parameters ---------------------------------------------------------------------


class EmbedParams(StrictParams):
    provider = serializers.SlugField(max_length=32, required=False)
    start = serializers.IntegerField(
        min_value=0, max_value=MAX_START_SECONDS, required=False, help_text="Seconds"
    )
    color = serializers.RegexField(
        HEX_COLOR.pattern,  # normalize_color's rule, stated in the schema too
        required=False,
        help_text="Accent colour, 3 or 6 hex digits, '#' optional",
        error_messages={"invalid": "Give a colour as 3 or 6 hex digits, e.g. e50914."},
    )

    def validate_color(self, value: str) -> str:
        try:
            return normalize_color(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


# --- Serializers ----------------------------------------------------------------------------
# The answers are rendered by these, the schema's source too. Every press of Play asks for
# sources, and DRF copies every declared field into each new serializer, so the views render
# with one instance per process (``SOURCE_LIST.to_representation(...)``): fields hold no state.


@dataclass(frozen=True)
class Offer:
    """A ranked source as an answer offers it: with the player URL this request asked for."""

    ranked: RankedSource
    url: str

    @classmethod
    def of(
        cls, ranked: RankedSource, *, start: int | None = None, color: str | None = None
    ) -> Offer:
        return cls(ranked, ranked.source.url(start=start, color=color))


class MovieRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tmdb_id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    ok = serializers.BooleanField(allow_null=True, help_text="Last health check; null: never")
    checked_at = serializers.DateTimeField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField()


class GivenField(serializers.BooleanField):
    """Whether the value is set (a provider's start parameter): any text counts as true."""

    def to_representation(self, value: Any) -> bool:
        return bool(value)


class TenthsField(serializers.FloatField):
    """Seconds to a tenth."""

    def to_representation(self, value: Any) -> float:
        return round(float(value), 1)


class SourceSerializer(serializers.Serializer):
    """An :class:`Offer`."""

    provider = serializers.CharField(source="ranked.source.provider")
    name = serializers.CharField(source="ranked.source.name")
    kind = serializers.ChoiceField(choices=["embed", "hls"], source="ranked.source.kind")
    url = serializers.CharField(help_text="The player, with start and colour when asked for")
    priority = serializers.IntegerField(source="ranked.source.priority")
    origin = serializers.CharField(
        source="ranked.source.origin",
        help_text="Origin the player's postMessage events come from",
    )
    supports_start = GivenField(source="ranked.source.start_param")
    circuit = serializers.ChoiceField(
        choices=["closed", "half_open", "open", "disabled"], source="ranked.status.circuit"
    )
    retry_after = TenthsField(
        allow_null=True,
        source="ranked.status.retry_after",
        help_text="Seconds until an open circuit lets a probe through",
    )
    health = HealthSerializer(source="ranked.status.health")


DEGRADED_HELP = "Present (true) only when the database failed and an older copy answered."


class SourceListSerializer(serializers.Serializer):
    movie = MovieRefSerializer()
    sources = SourceSerializer(many=True, help_text="Best first")
    skipped = SourceSerializer(many=True, help_text="Open circuits: not offered to viewers")
    degraded = serializers.BooleanField(required=False, help_text=DEGRADED_HELP)


class EmbedSerializer(serializers.Serializer):
    movie = MovieRefSerializer()
    source = SourceSerializer()
    fallbacks = SourceSerializer(many=True, help_text="What to try next, best first")
    degraded = serializers.BooleanField(required=False, help_text=DEGRADED_HELP)


class NoSourcesSerializer(serializers.Serializer):
    error = serializers.CharField(default="no_sources")
    detail = serializers.CharField()
    retry_after = serializers.IntegerField()
    skipped = SourceSerializer(many=True)
    degraded = serializers.BooleanField(required=False, help_text=DEGRADED_HELP)


SOURCE_LIST = SourceListSerializer()
EMBED = EmbedSerializer()
NO_SOURCES = NoSourcesSerializer()


# --- Views ----------------------------------------------------------------------------------


def resolved_or_404(movie_id: int) -> Resolution:
    resolution = sources.resolve(movie_id)
    if resolution is None:
        raise Http404
    return resolution


def answered(
    serializer: serializers.Serializer,
    answer: dict[str, Any],
    resolution: Resolution,
    **kwargs: Any,
) -> Response:
    """The response, saying how fresh its sources are as the catalog API does: ``X-Cache``,
    and ``"degraded": true`` when they come from a stale copy."""
    if resolution.degraded:
        answer["degraded"] = True
    response = Response(serializer.to_representation(answer), **kwargs)
    response["X-Cache"] = resolution.cache_status.upper()
    return response


def offers(ranked: Iterable[RankedSource], **options: Any) -> list[Offer]:
    return [Offer.of(source, **options) for source in ranked]


def no_sources(resolution: Resolution) -> Response:
    retry_after = resolution.retry_after()
    detail = (
        f"No streaming source can play this movie right now; try again in {retry_after} s."
        if resolution.skipped
        else "No streaming provider is enabled."
    )
    answer = {
        "error": "no_sources",
        "detail": detail,
        "retry_after": retry_after,
        "skipped": offers(resolution.skipped),
    }
    return answered(
        NO_SOURCES, answer, resolution, status=503, headers={"Retry-After": str(retry_after)}
    )


class SourceListView(ApiView):
    @extend_schema(
        responses={
            200: SourceListSerializer,
            503: OpenApiResponse(NoSourcesSerializer, description="Every source is down"),
        },
        summary="Every source of a movie with its health, playable ones best first",
    )
    def get(self, request: Request, movie_id: int) -> Response:
        resolution = resolved_or_404(movie_id)
        if not resolution.playable:
            return no_sources(resolution)
        answer = {
            "movie": resolution.movie,
            "sources": offers(resolution.playable),
            "skipped": offers(resolution.skipped),
        }
        return answered(SOURCE_LIST, answer, resolution)


class EmbedView(ApiView):
    @extend_schema(
        parameters=[EmbedParams],
        responses={
            200: EmbedSerializer,
            404: OpenApiResponse(description="No such movie, or no enabled provider by that name"),
            503: OpenApiResponse(NoSourcesSerializer, description="Every source is down"),
        },
        summary="The player URL of a movie (best or chosen provider) plus the fallbacks",
    )
    def get(self, request: Request, movie_id: int) -> Response:
        params = EmbedParams(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        options = {k: v for k, v in params.validated_data.items() if k in ("start", "color")}
        resolution = resolved_or_404(movie_id)
        chosen = self._chosen(resolution, params.validated_data.get("provider"))
        if chosen is None:
            return no_sources(resolution)
        fallbacks = [r for r in resolution.playable if r is not chosen]
        answer = {
            "movie": resolution.movie,
            "source": Offer.of(chosen, **options),
            "fallbacks": offers(fallbacks, **options),
        }
        return answered(EMBED, answer, resolution)

    def _chosen(self, resolution: Resolution, provider: str | None) -> RankedSource | None:
        if provider is None:
            return resolution.best
        # An open circuit is still handed out when asked for by name: the caller chose it.
        found = resolution.find(provider)
        if found is None:  # well-formed, but naming nothing: like an unknown movie id
            raise NotFound(f"provider: No enabled provider is called {provider!r}.")
        return found


# --- Viewers' failure reports ---------------------------------------------------------------


class FailureReportSerializer(StrictSerializer):
    reason = serializers.ChoiceField(
        choices=services.FAILURE_REASONS,
        help_text="no_answer: the player gave no proof of playing within the provider's "
        "timeout; error: it failed after.",
    )


class FailureReportResultSerializer(serializers.Serializer):
    probe = serializers.ChoiceField(
        choices=["queued", "recent"],
        help_text="queued: this report starts a probe of the provider now; recent: one was "
        "started moments ago, its verdict will do.",
    )


class FailureReportView(ApiView):
    # Anyone watching may say a player did not play: the report reads and writes nothing of
    # theirs, so it needs neither a session (nor CSRF) nor a key. What it can cost is one probe
    # per provider every few seconds, and the shield's rate limit per client.
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    @extend_schema(
        request={"application/json": FailureReportSerializer},
        responses={
            202: FailureReportResultSerializer,
            404: OpenApiResponse(description="No enabled provider by that slug"),
        },
        summary="Say a provider's player did not play here: the server probes it now",
        auth=[],
    )
    def post(self, request: Request, slug: str) -> Response:
        params = FailureReportSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        provider = Provider.objects.enabled().filter(slug=slug).first()
        if provider is None:
            raise NotFound(f"No enabled provider is called {slug!r}.")
        queued = services.report_failure(provider=provider, reason=params.validated_data["reason"])
        return Response({"probe": "queued" if queued else "recent"}, status=202)
