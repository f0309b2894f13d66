"""Catalog REST API: movies, search and genres. Views translate; querysets do the work."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Q
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import Genre, Movie
from catalog.ordering import ALIASES, ORDERINGS, Ordering, ordering_named
from streamsite import http_cache
from streamsite.api import ApiView, StrictParams

MAX_QUERY_LENGTH = 200


# --- Query parameters ---------------------------------------------------------------------------


class MovieListParams(StrictParams):
    allowed_extra = ("cursor",)  # read by the paginator

    # A slug (which also refuses characters PostgreSQL cannot compare, such as NUL); a slug
    # that names no genre is a 404, like an unknown movie id: the schema cannot list genres.
    genre = serializers.SlugField(max_length=64, required=False)
    year = serializers.IntegerField(min_value=1870, max_value=2100, required=False)
    featured = serializers.BooleanField(required=False)
    ordering = serializers.ChoiceField(
        choices=[*ALIASES, *ORDERINGS],
        default="popularity",
        help_text="The same vocabulary as the browse page's `?sort=`: a name orders movies the "
        "same way on both. `popularity` is another name for `popular`. Date orders put movies "
        "without a release date last.",
    )
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=24)


# What a search may be, in the schema too: some character that is not a space, and no NUL.
@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_QUERY_LENGTH,
        "pattern": r"^[^\x00]*[^\x00\s][^\x00]*$",
    }
)
class SearchTextField(serializers.CharField):
    pass


class SearchParams(StrictParams):
    q = SearchTextField(max_length=MAX_QUERY_LENGTH, trim_whitespace=True)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=20)


class SuggestParams(StrictParams):
    q = SearchTextField(max_length=MAX_QUERY_LENGTH, trim_whitespace=True)
    limit = serializers.IntegerField(min_value=1, max_value=10, default=8)


def validated(params_class: type[StrictParams], request: Request) -> dict[str, Any]:
    params = params_class(data=request.query_params.dict())
    params.is_valid(raise_exception=True)
    return params.validated_data


# --- Serializers ----------------------------------------------------------------------------


class GenreSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class GenreWithCountSerializer(GenreSerializer):
    movie_count = serializers.IntegerField()


DEGRADED_HELP = "Present (true) only when the database failed and an older copy answered."


class MovieSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tmdb_id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()
    year = serializers.IntegerField(allow_null=True)
    release_date = serializers.DateField(allow_null=True)
    runtime = serializers.IntegerField(allow_null=True)
    vote_average = serializers.FloatField()
    popularity = serializers.FloatField()
    is_featured = serializers.BooleanField()
    poster_url = serializers.SerializerMethodField()
    genres = GenreSerializer(many=True, source="genres.all")

    def get_poster_url(self, movie: Movie) -> str:
        return movie.poster_url()


class MovieDetailSerializer(MovieSummarySerializer):
    original_title = serializers.CharField()
    imdb_id = serializers.CharField()
    overview = serializers.CharField()
    tagline = serializers.CharField()
    vote_count = serializers.IntegerField()
    backdrop_url = serializers.SerializerMethodField()
    page_url = serializers.CharField(source="get_absolute_url")

    def get_backdrop_url(self, movie: Movie) -> str:
        return movie.backdrop_url()


# The answers as a whole, for the schema: what the views return, with the marker a stale copy
# gets (streamsite.http_cache).


class MovieDetailAnswer(MovieDetailSerializer):
    degraded = serializers.BooleanField(required=False, help_text=DEGRADED_HELP)


class MoviePageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="The next page's URL; null at the end")
    previous = serializers.CharField(allow_null=True, help_text="The previous page's URL")
    results = MovieSummarySerializer(many=True)
    degraded = serializers.BooleanField(required=False, help_text=DEGRADED_HELP)


class SearchResultsSerializer(serializers.Serializer):
    query = serializers.CharField()
    results = MovieSummarySerializer(many=True)
    degraded = serializers.BooleanField(required=False, help_text=DEGRADED_HELP)


class SimilarMoviesSerializer(serializers.Serializer):
    results = MovieSummarySerializer(many=True)
    degraded = serializers.BooleanField(required=False, help_text=DEGRADED_HELP)


class SuggestionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    year = serializers.IntegerField(allow_null=True)
    poster_url = serializers.SerializerMethodField()
    page_url = serializers.CharField(source="get_absolute_url")

    def get_poster_url(self, movie: Movie) -> str:
        return movie.poster_url(width=92)


class SuggestionsSerializer(serializers.Serializer):
    query = serializers.CharField()
    results = SuggestionSerializer(many=True)
    degraded = serializers.BooleanField(required=False, help_text=DEGRADED_HELP)


class GenreListSerializer(serializers.Serializer):
    results = GenreWithCountSerializer(many=True)
    degraded = serializers.BooleanField(required=False, help_text=DEGRADED_HELP)


# --- Pagination -----------------------------------------------------------------------------


class MovieCursorPagination(CursorPagination):
    """Keyset pagination: page 1,000 costs what page 1 does, unlike OFFSET."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def __init__(self, ordering: Ordering, page_size: int) -> None:
        self.ordering = ordering.order_by
        self.first_column = ordering.first_column(Movie)
        self.page_size = page_size

    def decode_cursor(self, request: Request) -> Cursor | None:
        """The cursor, once its position is known to be a value of the ordering's first column:
        a cursor is only base64 of a query string, so anyone can write one by hand."""
        try:
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None:
                self.first_column.to_python(cursor.position)
                if "\x00" in cursor.position:  # PostgreSQL cannot compare text holding one
                    raise DjangoValidationError("null character")
        except (NotFound, DjangoValidationError):
            # Well-formed for all the schema can say, but pointing at no page.
            raise NotFound("cursor: Invalid or expired cursor.") from None
        return cursor


# --- Views ----------------------------------------------------------------------------------


@http_cache.api_response("catalog", "movie-list")
class MovieListView(ApiView):
    @extend_schema(
        parameters=[
            MovieListParams,
            OpenApiParameter("cursor", str, description="From a previous page's next/previous"),
        ],
        responses={
            200: MoviePageSerializer,
            404: OpenApiResponse(description="No genre by that slug, or a cursor to no page."),
        },
        summary="Published movies, most popular first, cursor-paginated",
        operation_id="movies_list",
    )
    def get(self, request: Request) -> Response:
        params = validated(MovieListParams, request)
        movies = Movie.objects.published().with_card_fields()
        if slug := params.get("genre"):
            genre = Genre.objects.only("id", "slug").filter(slug=slug).first()
            if genre is None:
                raise NotFound(f"genre: No genre is called {slug!r}.")
            movies = movies.in_genre(genre)
        if (year := params.get("year")) is not None:
            movies = movies.released_in(year)
        if (featured := params.get("featured")) is not None:
            movies = movies.filter(is_featured=featured)
        movies = movies.ordered(params["ordering"])
        paginator = MovieCursorPagination(ordering_named(params["ordering"]), params["page_size"])
        page = paginator.paginate_queryset(movies, request, view=self)
        return paginator.get_paginated_response(MovieSummarySerializer(page, many=True).data)


@http_cache.api_response("catalog", "movie-detail")
class MovieDetailView(ApiView):
    @extend_schema(responses=MovieDetailAnswer, summary="One published movie")
    def get(self, request: Request, movie_id: int) -> Response:
        movie = (
            Movie.objects.published()
            .prefetch_related("genres")
            .defer("search_vector", "created_at")
            .filter(pk=movie_id)
            .first()
        )
        if movie is None:
            raise Http404
        return Response(MovieDetailSerializer(movie).data)


SIMILAR_LENGTH = 12


@http_cache.api_response("catalog", "movie-similar")
class SimilarMoviesView(ApiView):
    @extend_schema(
        responses={
            200: SimilarMoviesSerializer,
            404: OpenApiResponse(description="No published movie with that id."),
        },
        summary="More like this: published movies sharing the most genres, then (PostgreSQL) "
        "the closest overviews, then the most popular; never the movie itself",
    )
    def get(self, request: Request, movie_id: int) -> Response:
        movie = Movie.objects.published().only("id").filter(pk=movie_id).first()
        if movie is None:
            raise Http404
        similar = Movie.objects.published().with_card_fields().similar_to(movie)
        results = list(similar[:SIMILAR_LENGTH])
        return Response({"results": MovieSummarySerializer(results, many=True).data})


@http_cache.api_response("catalog", "movie-search")
class MovieSearchView(ApiView):
    @extend_schema(
        parameters=[SearchParams],
        responses=SearchResultsSerializer,
        summary="Full-text search over titles and overviews, best match first",
    )
    def get(self, request: Request) -> Response:
        params = validated(SearchParams, request)
        movies = Movie.objects.published().with_card_fields().search(params["q"])
        results = list(movies[: params["limit"]])
        return Response(
            {"query": params["q"], "results": MovieSummarySerializer(results, many=True).data}
        )


@http_cache.api_response("catalog", "movie-suggest")
class MovieSuggestView(ApiView):
    @extend_schema(
        parameters=[SuggestParams],
        responses=SuggestionsSerializer,
        summary="Titles for a search box as the viewer types: titles starting with the text, "
        "then containing it, then (PostgreSQL) close to it",
    )
    def get(self, request: Request) -> Response:
        params = validated(SuggestParams, request)
        movies = (
            Movie.objects.published()
            .only("id", "title", "slug", "release_date", "poster_path", "poster_file")
            .suggestions(params["q"])
        )
        results = list(movies[: params["limit"]])
        return Response(
            {"query": params["q"], "results": SuggestionSerializer(results, many=True).data}
        )


@http_cache.api_response("catalog", "genre-list")
class GenreListView(ApiView):
    @extend_schema(responses=GenreListSerializer, summary="Genres with counts")
    def get(self, request: Request) -> Response:
        genres = Genre.objects.annotate(
            movie_count=Count("movies", filter=Q(movies__is_published=True))
        ).order_by("name")
        return Response({"results": GenreWithCountSerializer(genres, many=True).data})
