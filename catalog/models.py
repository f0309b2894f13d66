"""The catalog: movies and their genres."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connection, models
from django.db.models import F, Q
from django.urls import reverse

# TMDb serves these poster widths; anything else is rounded up to the next one.
TMDB_POSTER_WIDTHS = (92, 154, 185, 342, 500, 780)
TMDB_BACKDROP_WIDTHS = (300, 780, 1280)


class Genre(models.Model):
    tmdb_id = models.PositiveIntegerField(unique=True, null=True, blank=True)
    name = models.CharField(max_length=64, unique=True)
    slug = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return f"{reverse('catalog:browse')}?genre={self.slug}"


class MovieQuerySet(models.QuerySet["Movie"]):
    def published(self) -> MovieQuerySet:
        return self.filter(is_published=True)

    def featured(self) -> MovieQuerySet:
        return self.filter(is_featured=True)

    def in_genre(self, genre: Genre | str) -> MovieQuerySet:
        if isinstance(genre, Genre):
            return self.filter(genres=genre)
        return self.filter(genres__slug=genre)

    def released_in(self, year: int) -> MovieQuerySet:
        # A half-open date range rather than __year so the release-date index is usable.
        return self.filter(
            release_date__gte=dt.date(year, 1, 1), release_date__lt=dt.date(year + 1, 1, 1)
        )

    def popular(self) -> MovieQuerySet:
        return self.order_by("-popularity", "-id")

    def newest(self) -> MovieQuerySet:
        return self.order_by(F("release_date").desc(nulls_last=True), "-id")

    def top_rated(self) -> MovieQuerySet:
        return self.order_by("-vote_average", "-vote_count", "-id")

    def by_title(self) -> MovieQuerySet:
        return self.order_by("title", "id")

    def search(self, query: str) -> MovieQuerySet:
        """Movies matching ``query``, best match first.

        PostgreSQL ranks by the weighted search vector (title over original title over
        overview); SQLite, the zero-setup demo, falls back to substring matching with title
        matches first.
        """
        query = query.strip()
        if not query:
            return self.none()
        if connection.vendor == "postgresql":
            ts_query = SearchQuery(query, search_type="websearch", config="english")
            return (
                self.filter(search_vector=ts_query)
                .annotate(rank=SearchRank(F("search_vector"), ts_query))
                .order_by("-rank", "-popularity", "-id")
            )
        title_match = Q(title__icontains=query) | Q(original_title__icontains=query)
        return (
            self.filter(title_match | Q(overview__icontains=query))
            .annotate(
                rank=models.Case(
                    models.When(title_match, then=models.Value(1.0)),
                    default=models.Value(0.1),
                    output_field=models.FloatField(),
                )
            )
            .order_by("-rank", "-popularity", "-id")
        )

    def with_card_fields(self) -> MovieQuerySet:
        """Only the columns a poster card needs, genres prefetched in one query."""
        return self.only(*CARD_FIELDS).prefetch_related(
            models.Prefetch("genres", queryset=Genre.objects.only("id", "name", "slug"))
        )


CARD_FIELDS = (
    "id",
    "tmdb_id",
    "title",
    "slug",
    "release_date",
    "runtime",
    "poster_path",
    "poster_file",
    "popularity",
    "vote_average",
    "is_featured",
)


class Movie(models.Model):
    tmdb_id = models.PositiveIntegerField(unique=True)
    imdb_id = models.CharField(max_length=16, blank=True)
    title = models.CharField(max_length=255)
    original_title = models.CharField(max_length=255, blank=True)
    slug = models.SlugField(max_length=255, unique=True)
    overview = models.TextField(blank=True)
    tagline = models.CharField(max_length=255, blank=True)
    release_date = models.DateField(null=True, blank=True)
    runtime = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Minutes")
    poster_path = models.CharField(
        max_length=255, blank=True, help_text="TMDb image path; empty → poster file or generated"
    )
    backdrop_path = models.CharField(max_length=255, blank=True)
    # A poster of our own (an editor's upload, or a frame of the movie's video); a TMDb path
    # above wins over it, and with neither the poster is generated.
    poster_file = models.FileField(upload_to="posters/", blank=True, max_length=255)
    popularity = models.FloatField(default=0)
    vote_average = models.FloatField(default=0)
    vote_count = models.PositiveIntegerField(default=0)
    genres = models.ManyToManyField(Genre, related_name="movies", blank=True)
    is_published = models.BooleanField(default=False)
    is_featured = models.BooleanField(default=False)
    # Maintained by a database trigger on PostgreSQL (see migration 0002); unused on SQLite.
    search_vector = SearchVectorField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MovieQuerySet.as_manager()

    class Meta:
        ordering = ["-popularity", "-id"]
        indexes = [
            # Home rows, /browse/ and GET /api/movies: published movies by popularity, with id
            # as the tie-breaker the cursor pagination orders by.
            models.Index(
                fields=["is_published", "-popularity", "-id"], name="movie_published_popular"
            ),
            # "New releases" and browsing by year: published movies by release date.
            models.Index(fields=["is_published", "-release_date"], name="movie_published_released"),
            # The home hero: a handful of featured rows among many, so a partial index
            # holds only them.
            models.Index(
                fields=["-popularity"],
                condition=Q(is_published=True, is_featured=True),
                name="movie_featured_partial",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("catalog:detail", kwargs={"slug": self.slug})

    def get_watch_url(self) -> str:
        return reverse("catalog:watch", kwargs={"slug": self.slug})

    @property
    def year(self) -> int | None:
        return self.release_date.year if self.release_date else None

    @property
    def runtime_display(self) -> str:
        if not self.runtime:
            return ""
        hours, minutes = divmod(self.runtime, 60)
        return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"

    def poster_url(self, width: int = 342) -> str:
        if self.poster_path.startswith("/"):
            size = next((w for w in TMDB_POSTER_WIDTHS if w >= width), "original")
            size_part = f"w{size}" if isinstance(size, int) else size
            return f"{settings.TMDB_IMAGE_URL}/{size_part}{self.poster_path}"
        if self.poster_file:
            return self.poster_file.url
        return reverse("catalog:poster", kwargs={"slug": self.slug})

    def backdrop_url(self, width: int = 1280) -> str:
        if self.backdrop_path.startswith("/"):
            size = next((w for w in TMDB_BACKDROP_WIDTHS if w >= width), "original")
            size_part = f"w{size}" if isinstance(size, int) else size
            return f"{settings.TMDB_IMAGE_URL}/{size_part}{self.backdrop_path}"
        return reverse("catalog:backdrop", kwargs={"slug": self.slug})
