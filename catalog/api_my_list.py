"""My list over the REST API: ``GET /api/me/list`` and ``GET/PUT/DELETE /api/me/list/<id>``.

Every endpoint needs a signed-in user (session cookie with CSRF on writes, or
``Authorization: Api-Key <key>``) and only ever reads or changes that user's own list.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import ApiKeyAuthentication
from catalog import services
from catalog.api import MovieSummarySerializer
from catalog.models import ListEntry, Movie
from streamsite.api import ApiView

NOT_PUBLISHED = "No published movie with id {movie_id}."


class ListEntrySerializer(serializers.Serializer):
    movie_id = serializers.IntegerField()
    on_list = serializers.BooleanField(help_text="Whether the movie is on the viewer's list.")
    added_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was added; null when it is not on the list."
    )


class ListItemSerializer(serializers.Serializer):
    added_at = serializers.DateTimeField()
    movie = MovieSummarySerializer()


class MyListSerializer(serializers.Serializer):
    results = ListItemSerializer(many=True)


class MyListAPIView(ApiView):
    # Explicit credential first, so an anonymous request gets 401 with an Api-Key challenge;
    # the session cookie comes with DRF's CSRF enforcement on writes.
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]


class MyListView(MyListAPIView):
    @extend_schema(
        responses=MyListSerializer,
        operation_id="me_list",
        summary="The viewer's list, most recently added first",
        tags=["my list"],
    )
    def get(self, request: Request) -> Response:
        entries = (
            ListEntry.objects.of_user(request.user.pk)
            .published()
            .newest_first()
            .prefetch_related(Prefetch("movie", queryset=Movie.objects.with_card_fields()))
        )
        return Response(MyListSerializer({"results": entries}).data)


def _published_or_404(movie_id: int) -> None:
    if not Movie.objects.published().filter(pk=movie_id).exists():
        raise exceptions.NotFound(NOT_PUBLISHED.format(movie_id=movie_id))


def _entry(user_id: int, movie_id: int) -> dict[str, Any]:
    added_at = (
        ListEntry.objects.of_user(user_id)
        .filter(movie_id=movie_id)
        .values_list("added_at", flat=True)
        .first()
    )
    return {"movie_id": movie_id, "on_list": added_at is not None, "added_at": added_at}


NOT_FOUND = OpenApiResponse(description="No published movie with that id.")


class MyListEntryView(MyListAPIView):
    @extend_schema(
        responses={200: ListEntrySerializer, 404: NOT_FOUND},
        operation_id="me_list_entry",
        summary="Whether a movie is on the viewer's list",
        tags=["my list"],
    )
    def get(self, request: Request, movie_id: int) -> Response:
        _published_or_404(movie_id)
        return Response(ListEntrySerializer(_entry(request.user.pk, movie_id)).data)

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(ListEntrySerializer, description="It was on the list already."),
            201: OpenApiResponse(ListEntrySerializer, description="Added."),
            404: NOT_FOUND,
        },
        operation_id="me_list_add",
        summary="Add a movie to the viewer's list (again is fine)",
        tags=["my list"],
    )
    def put(self, request: Request, movie_id: int) -> Response:
        _published_or_404(movie_id)
        created = services.add_to_list(user_id=request.user.pk, movie_id=movie_id)
        return Response(
            ListEntrySerializer(_entry(request.user.pk, movie_id)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        request=None,
        responses={204: None, 404: NOT_FOUND},
        operation_id="me_list_remove",
        summary="Take a movie off the viewer's list (not on it is fine)",
        tags=["my list"],
    )
    def delete(self, request: Request, movie_id: int) -> Response:
        _published_or_404(movie_id)
        services.remove_from_list(user_id=request.user.pk, movie_id=movie_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
