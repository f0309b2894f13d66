"""Streaming API: the sources of a movie, and the player URL of one of them with options.

Both answer from ``streaming.sources.resolve`` (cached per movie, circuit state live). When no
source can play, the answer is a 503 in the shared error shape with ``Retry-After`` set to the
moment the soonest open circuit lets a probe through.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from streaming import services, sources
from streaming.models import Provider
from streaming.providers.base import HEX_COLOR, MovieRef, normalize_color
from streaming.sources import RankedSource, Resolution

MAX_START_SECONDS = 24 * 60 * 60  # nothing we serve is a day long; more is a client bug


# --- Query parameters ---------------------------------------------------------------------


class EmbedParams(serializers.Serializer):
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

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # A misspelt parameter (?strat=90) must not be silently ignored.
        unknown = set(data) - set(self.fields)
        if unknown:
            raise ValidationError({name: ["Unknown parameter."] for name in sorted(unknown)})
        return super().to_internal_value(data)

    def validate_color(self, value: str) -> str:
        try:
            return normalize_color(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


# --- Serializers ----------------------------------------------------------------------------


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


class SourceSerializer(serializers.Serializer):
    provider = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["embed", "hls"])
    url = serializers.CharField(help_text="The player, with start and colour when asked for")
    priority = serializers.IntegerField()
    origin = serializers.CharField(help_text="Origin the player's postMessage events come from")
    supports_start = serializers.BooleanField()
    circuit = serializers.ChoiceField(choices=["closed", "half_open", "open", "disabled"])
    retry_after = serializers.FloatField(
        allow_null=True, help_text="Seconds until an open circuit lets a probe through"
    )
    health = HealthSerializer()


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


# The serializers above document the responses (OpenAPI); the bodies are built by these
# functions, an order of magnitude cheaper on the endpoint every press of Play calls.
# tests/streaming/test_sources_api.py checks that both stay the same shape.


def movie_json(movie: MovieRef) -> dict[str, Any]:
    return {"id": movie.id, "tmdb_id": movie.tmdb_id, "slug": movie.slug, "title": movie.title}


def source_json(
    ranked: RankedSource, *, start: int | None = None, color: str | None = None
) -> dict[str, Any]:
    source, status = ranked.source, ranked.status
    health = status.health
    return {
        "provider": source.provider,
        "name": source.name,
        "kind": source.kind,
        "url": source.url(start=start, color=color),
        "priority": source.priority,
        "origin": source.origin,
        "supports_start": bool(source.start_param),
        "circuit": status.circuit,
        "retry_after": None if status.retry_after is None else round(status.retry_after, 1),
        "health": {
            "ok": health.ok,
            "checked_at": health.checked_at,
            "latency_ms": health.latency_ms,
            "detail": health.detail,
        },
    }


# --- Views ----------------------------------------------------------------------------------


def resolved_or_404(movie_id: int) -> Resolution:
    resolution = sources.resolve(movie_id)
    if resolution is None:
        raise Http404
    return resolution


def answered(body: dict[str, Any], resolution: Resolution, **kwargs: Any) -> Response:
    """The response, saying how fresh its sources are as the catalog API does: ``X-Cache``,
    and ``"degraded": true`` when they come from a stale copy."""
    if resolution.degraded:
        body["degraded"] = True
    response = Response(body, **kwargs)
    response["X-Cache"] = resolution.cache_status.upper()
    return response


def no_sources(resolution: Resolution) -> Response:
    retry_after = resolution.retry_after()
    detail = (
        f"No streaming source can play this movie right now; try again in {retry_after} s."
        if resolution.skipped
        else "No streaming provider is enabled."
    )
    body = {
        "error": "no_sources",
        "detail": detail,
        "retry_after": retry_after,
        "skipped": [source_json(ranked) for ranked in resolution.skipped],
    }
    return answered(body, resolution, status=503, headers={"Retry-After": str(retry_after)})


class SourceListView(APIView):
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
        return answered(
            {
                "movie": movie_json(resolution.movie),
                "sources": [source_json(ranked) for ranked in resolution.playable],
                "skipped": [source_json(ranked) for ranked in resolution.skipped],
            },
            resolution,
        )


class EmbedView(APIView):
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
        return answered(
            {
                "movie": movie_json(resolution.movie),
                "source": source_json(chosen, **options),
                "fallbacks": [source_json(ranked, **options) for ranked in fallbacks],
            },
            resolution,
        )

    def _chosen(self, resolution: Resolution, provider: str | None) -> RankedSource | None:
        if provider is None:
            return resolution.best
        # An open circuit is still handed out when asked for by name: the caller chose it.
        found = resolution.find(provider)
        if found is None:  # well-formed, but naming nothing: like an unknown movie id
            raise NotFound(f"provider: No enabled provider is called {provider!r}.")
        return found


# --- Viewers' failure reports ---------------------------------------------------------------


class FailureReportSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=services.FAILURE_REASONS,
        help_text="no_answer: the player gave no proof of playing within the provider's "
        "timeout; error: it failed after.",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if hasattr(data, "keys"):
            unknown = set(data.keys()) - set(self.fields)
            if unknown:
                raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return super().to_internal_value(data)


class FailureReportResultSerializer(serializers.Serializer):
    probe = serializers.ChoiceField(
        choices=["queued", "recent"],
        help_text="queued: this report starts a probe of the provider now; recent: one was "
        "started moments ago, its verdict will do.",
    )


class FailureReportView(APIView):
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
