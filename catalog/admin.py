"""Editor admin for the catalog: curate, publish and feature movies."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from catalog import edge, services
from catalog.models import Credit, Genre, Movie, Person


class DecadeFilter(admin.SimpleListFilter):
    """Release decades: a dozen links where a list of every year (or a year drill-down) ran to
    seventy."""

    title = "release decade"
    parameter_name = "decade"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        years = Movie.objects.dates("release_date", "year", order="DESC")
        decades = sorted({day.year // 10 * 10 for day in years}, reverse=True)
        return [(str(decade), f"{decade}s") for decade in decades]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Movie]) -> QuerySet[Movie]:
        value = self.value()
        if value and value.isdigit():
            start = int(value)
            return queryset.filter(
                release_date__gte=dt.date(start, 1, 1), release_date__lt=dt.date(start + 10, 1, 1)
            )
        return queryset


class CreditInline(admin.TabularInline):
    model = Credit
    extra = 0
    fields = ("role", "order", "person", "character")
    autocomplete_fields = ("person",)
    ordering = ("role", "order")


@admin.register(Movie)
class MovieAdmin(admin.ModelAdmin):
    # Chosen and labelled to fit a 1366 px screen with the filters beside them.
    list_display = (
        "thumbnail",
        "title",
        "year",
        "genre_list",
        "popularity_display",
        "rating",
        "is_published",
        "is_featured",
    )
    list_display_links = ("thumbnail", "title")
    list_editable = ("is_featured",)
    list_filter = ("is_published", "is_featured", DecadeFilter, "genres")
    list_per_page = 50
    search_fields = ("title", "original_title", "=tmdb_id", "=imdb_id")
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("genres",)
    readonly_fields = ("created_at", "updated_at", "poster_preview")
    actions = ("publish", "unpublish", "feature", "unfeature", edge.purge_movies)
    inlines = (CreditInline,)
    fieldsets = (
        (None, {"fields": ("title", "slug", "original_title", "tagline", "overview")}),
        ("Release", {"fields": ("release_date", "runtime", "genres")}),
        ("Curation", {"fields": ("is_published", "is_featured")}),
        (
            "Artwork",
            {
                "fields": (
                    "poster_path",
                    "poster_file",
                    "backdrop_path",
                    "backdrop_file",
                    "poster_preview",
                ),
                "description": "A TMDb path wins over an uploaded file. Uploads: JPEG, PNG or "
                "WebP, at most ARTWORK_UPLOAD_MAX_BYTES (10 MB unless set).",
            },
        ),
        (
            "TMDb",
            {"fields": ("tmdb_id", "imdb_id", "popularity", "vote_average", "vote_count")},
        ),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Movie]:
        # Genres in one extra query for the whole page, whatever its length.
        return super().get_queryset(request).defer("search_vector").prefetch_related("genres")

    @admin.display(description="Poster")
    def thumbnail(self, movie: Movie) -> str:
        return format_html(
            '<img src="{}" alt="" width="46" height="69" loading="lazy" '
            'style="border-radius:4px;object-fit:cover">',
            movie.poster_url(width=92),
        )

    @admin.display(description="Poster")
    def poster_preview(self, movie: Movie) -> str:
        if not movie.pk:
            return "-"
        return format_html(
            '<img src="{}" alt="Poster of {}" width="185" height="278">',
            movie.poster_url(width=185),
            movie.title,
        )

    @admin.display(description="Genres")
    def genre_list(self, movie: Movie) -> str:
        return ", ".join(genre.name for genre in movie.genres.all())

    @admin.display(description="Year", ordering="release_date")
    def year(self, movie: Movie) -> str:
        return str(movie.year) if movie.year else "–"

    @admin.display(description="Popularity", ordering="popularity")
    def popularity_display(self, movie: Movie) -> str:
        return f"{movie.popularity:.1f}"

    @admin.display(description="Rating", ordering="vote_average")
    def rating(self, movie: Movie) -> str:
        return f"{movie.vote_average:.1f}" if movie.vote_count else "–"

    def _bulk(self, request: HttpRequest, count: int, verb: str) -> None:
        noun = "movie" if count == 1 else "movies"
        self.message_user(request, f"{count} {noun} {verb}.", messages.SUCCESS)

    @admin.action(description="Publish selected movies", permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[Movie]) -> None:
        ids = queryset.values_list("pk", flat=True)
        self._bulk(request, services.set_published(movie_ids=ids, published=True), "published")

    @admin.action(description="Unpublish selected movies", permissions=["change"])
    def unpublish(self, request: HttpRequest, queryset: QuerySet[Movie]) -> None:
        ids = queryset.values_list("pk", flat=True)
        self._bulk(request, services.set_published(movie_ids=ids, published=False), "unpublished")

    @admin.action(description="Feature selected movies", permissions=["change"])
    def feature(self, request: HttpRequest, queryset: QuerySet[Movie]) -> None:
        ids = queryset.values_list("pk", flat=True)
        self._bulk(request, services.set_featured(movie_ids=ids, featured=True), "featured")

    @admin.action(description="Unfeature selected movies", permissions=["change"])
    def unfeature(self, request: HttpRequest, queryset: QuerySet[Movie]) -> None:
        ids = queryset.values_list("pk", flat=True)
        self._bulk(request, services.set_featured(movie_ids=ids, featured=False), "unfeatured")


@admin.register(Genre)
class GenreAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "tmdb_id", "movie_count")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}
    actions = (edge.purge_genres,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Genre]:
        return super().get_queryset(request).annotate(movie_count=Count("movies"))

    @admin.display(description="Movies", ordering="movie_count")
    def movie_count(self, genre: Genre) -> int:
        return genre.movie_count


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("name", "tmdb_id", "credit_count")
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Person]:
        return super().get_queryset(request).annotate(credit_count=Count("credits"))

    @admin.display(description="Credits", ordering="credit_count")
    def credit_count(self, person: Person) -> int:
        return person.credit_count
