"""The catalog: movies and their genres."""

from __future__ import annotations

import datetime as dt
import difflib

from django.conf import settings
from django.contrib.postgres.search import (
    SearchQuery,
    SearchRank,
    SearchVectorField,
    TrigramWordSimilarity,
)
from django.db import connection, models
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.urls import reverse

from catalog.ordering import RELEASED_NEWEST_FIRST, RELEASED_OLDEST_FIRST, ordering_named
from cdn import images, links
from cdn.images import validate_artwork

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

    def ordered(self, name: str) -> MovieQuerySet:
        """Ordered by a name of the sort vocabulary (``catalog.ordering``)."""
        ordering = ordering_named(name)
        return self.annotate(**ordering.annotations).order_by(*ordering.order_by)

    def popular(self) -> MovieQuerySet:
        return self.ordered("popular")

    def newest(self) -> MovieQuerySet:
        return self.ordered("newest")

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

    def similar_titles(self, query: str) -> MovieQuerySet:
        """Movies whose title is close to ``query`` though not equal: the typo-tolerant fallback
        for a search that found nothing ("godfater" finds The Godfather).

        PostgreSQL compares trigrams (pg_trgm's word similarity, served by a trigram index on
        the title); SQLite, the demo, compares the query with each title in Python (difflib),
        which is fine for a catalog of a few hundred films.
        """
        query = query.strip()
        if not query:
            return self.none()
        if connection.vendor == "postgresql":
            return (
                self.filter(title__trigram_word_similar=query)
                .annotate(rank=TrigramWordSimilarity(query, "title"))
                .order_by("-rank", "-popularity", "-id")
            )
        scores = {
            pk: score
            for pk, title in self.values_list("pk", "title")
            if (score := title_closeness(query, title)) >= TITLE_CLOSENESS_THRESHOLD
        }
        ranks = [models.When(pk=pk, then=models.Value(score)) for pk, score in scores.items()]
        return (
            self.filter(pk__in=list(scores))
            .annotate(rank=models.Case(*ranks, default=0.0, output_field=models.FloatField()))
            .order_by("-rank", "-popularity", "-id")
        )

    def suggestions(self, text: str) -> MovieQuerySet:
        """Titles for the search box while the viewer types: titles starting with the text
        first, then titles containing it, then (PostgreSQL) titles close to it."""
        text = text.strip()
        if not text:
            return self.none()
        contains = Q(title__icontains=text) | Q(original_title__icontains=text)
        starts = models.Case(
            models.When(title__istartswith=text, then=1),
            default=0,
            output_field=models.IntegerField(),
        )
        if connection.vendor == "postgresql":
            return (
                self.filter(contains | Q(title__trigram_word_similar=text))
                .annotate(starts=starts, closeness=TrigramWordSimilarity(text, "title"))
                .order_by("-starts", "-closeness", "-popularity", "-id")
            )
        return (
            self.filter(contains).annotate(starts=starts).order_by("-starts", "-popularity", "-id")
        )

    def similar_to(self, movie: Movie) -> MovieQuerySet:
        """ "More like this": movies sharing the most genres with ``movie``, then (PostgreSQL)
        those whose overview shares the most words with its overview, then the most popular.

        Ranked in one query. Only movies sharing at least one genre are candidates, unless
        ``movie`` has none. The overview comparison ranks each candidate's overview lexemes
        (weight C of the search vector, see migration 0002) against a query OR-ing the
        lexemes of ``movie``'s overview.
        """
        genre_ids = Movie.genres.through.objects.filter(movie_id=movie.pk).values("genre_id")
        shared = (
            Movie.genres.through.objects.filter(movie_id=OuterRef("pk"), genre_id__in=genre_ids)
            .order_by()
            .values("movie_id")
            .annotate(shared=Count("*"))
            .values("shared")
        )
        candidates = self.exclude(pk=movie.pk).annotate(shared_genres=Coalesce(Subquery(shared), 0))
        if movie.genres.exists():
            candidates = candidates.filter(shared_genres__gt=0)
        if connection.vendor != "postgresql":
            return candidates.order_by("-shared_genres", "-popularity", "-id")
        # A constant statement; the movie id goes in as a parameter.
        overview_rank = RawSQL(  # noqa: S611
            SIMILAR_OVERVIEW_SQL, [movie.pk], output_field=models.FloatField()
        )
        return candidates.annotate(overview_rank=overview_rank).order_by(
            "-shared_genres", "-overview_rank", "-popularity", "-id"
        )

    def with_card_fields(self) -> MovieQuerySet:
        """Only the columns a poster card needs, genres prefetched in one query."""
        return self.only(*CARD_FIELDS).prefetch_related(
            models.Prefetch("genres", queryset=Genre.objects.only("id", "name", "slug"))
        )


# ts_rank of a candidate's overview (weight C; the array lists weights D, C, B, A) against the
# lexemes of the target's overview OR-ed together, each quoted so no lexeme reads as an operator.
SIMILAR_OVERVIEW_SQL = """
ts_rank('{0, 1, 0, 0}', catalog_movie.search_vector, (
    SELECT to_tsquery('simple', coalesce(string_agg(quote_literal(lexeme), ' | '), ''))
    FROM catalog_movie AS target,
         unnest(tsvector_to_array(ts_filter(target.search_vector, '{c}'))) AS lexeme
    WHERE target.id = %s
))
"""
TITLE_CLOSENESS_THRESHOLD = 0.75


def title_closeness(query: str, title: str) -> float:
    """0..1: how close ``query`` is to ``title`` or to any run of as many words in it."""
    query, title = query.casefold(), title.casefold()
    words = title.split()
    size = max(1, len(query.split()))
    runs = {title, *(" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1)))}
    return max(difflib.SequenceMatcher(None, query, run).ratio() for run in runs)


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
    poster_file = models.FileField(
        upload_to="posters/", blank=True, max_length=255, validators=[validate_artwork]
    )
    # A backdrop of our own, uploaded by an editor; a TMDb path wins over it too.
    backdrop_file = models.FileField(
        upload_to="backdrops/", blank=True, max_length=255, validators=[validate_artwork]
    )
    popularity = models.FloatField(default=0)
    vote_average = models.FloatField(default=0)
    vote_count = models.PositiveIntegerField(default=0)
    genres = models.ManyToManyField(Genre, related_name="movies", blank=True)
    is_published = models.BooleanField("published", default=False)
    is_featured = models.BooleanField("featured", default=False)
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
            # Newest and oldest first (page and API), undated movies last: the expressions the
            # ORDER BY and the API's cursor compare.
            models.Index(
                F("is_published"),
                RELEASED_NEWEST_FIRST.desc(),
                F("id").desc(),
                name="movie_published_newest",
            ),
            models.Index(
                F("is_published"), RELEASED_OLDEST_FIRST, F("id"), name="movie_published_oldest"
            ),
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
        return reverse("streaming:watch", kwargs={"slug": self.slug})

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
            return images.resized(self.poster_file.url, width)
        return links.public(reverse("catalog:poster", kwargs={"slug": self.slug}))

    def backdrop_url(self, width: int = 1280) -> str:
        if self.backdrop_path.startswith("/"):
            size = next((w for w in TMDB_BACKDROP_WIDTHS if w >= width), "original")
            size_part = f"w{size}" if isinstance(size, int) else size
            return f"{settings.TMDB_IMAGE_URL}/{size_part}{self.backdrop_path}"
        if self.backdrop_file:
            return images.resized(self.backdrop_file.url, width)
        return links.public(reverse("catalog:backdrop", kwargs={"slug": self.slug}))


# --- People and credits -----------------------------------------------------------------------


class Person(models.Model):
    """Someone in a film's credits: an actor or a director."""

    # TMDb's person id when imported from TMDb; people of the demo catalog are known by name.
    tmdb_id = models.PositiveIntegerField(unique=True, null=True, blank=True)
    name = models.CharField(max_length=255)
    profile_path = models.CharField(max_length=255, blank=True, help_text="TMDb image path")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"
        indexes = [models.Index(fields=["name"], name="person_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def initials(self) -> str:
        """``Morgan Freeman`` → ``MF``: the stand-in for a portrait."""
        parts = [part for part in self.name.split() if part[:1].isalpha()]
        return "".join(part[0] for part in parts[:1] + parts[1:][-1:]).upper()


class CreditQuerySet(models.QuerySet["Credit"]):
    def cast(self) -> CreditQuerySet:
        return self.filter(role=Credit.Role.CAST)

    def directors(self) -> CreditQuerySet:
        return self.filter(role=Credit.Role.DIRECTOR)

    def billing_order(self) -> CreditQuerySet:
        return self.order_by("role", "order", "id")


class Credit(models.Model):
    """One person's part in one film: a role they play (top billed first), or its direction."""

    class Role(models.TextChoices):
        CAST = "cast", "Cast"
        DIRECTOR = "director", "Director"

    movie = models.ForeignKey(Movie, on_delete=models.CASCADE, related_name="credits")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="credits")
    role = models.CharField(max_length=16, choices=Role.choices)
    character = models.CharField(max_length=255, blank=True)
    order = models.PositiveSmallIntegerField(default=0, help_text="Billing order, 0 first")

    objects = CreditQuerySet.as_manager()

    class Meta:
        ordering = ["movie", "role", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["movie", "person", "role"], name="credit_one_per_person_role"
            )
        ]
        indexes = [models.Index(fields=["movie", "role", "order"], name="credit_movie_billing")]

    def __str__(self) -> str:
        if self.role == self.Role.CAST and self.character:
            return f"{self.person} as {self.character} in {self.movie}"
        return f"{self.person} ({self.get_role_display().lower()}) in {self.movie}"


# --- My list --------------------------------------------------------------------------------


class ListEntryQuerySet(models.QuerySet["ListEntry"]):
    def of_user(self, user_id: int) -> ListEntryQuerySet:
        return self.filter(user_id=user_id)

    def published(self) -> ListEntryQuerySet:
        return self.filter(movie__is_published=True)

    def newest_first(self) -> ListEntryQuerySet:
        return self.order_by("-added_at", "-id")


class ListEntry(models.Model):
    """A film a viewer saved to watch later ("My list"). Private to that viewer.

    It lives in the catalog rather than in accounts because it points at movies, and accounts
    sits below the catalog in the layer order (an app imports only the apps below it).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="list_entries"
    )
    movie = models.ForeignKey(Movie, on_delete=models.CASCADE, related_name="list_entries")
    added_at = models.DateTimeField(auto_now_add=True)

    objects = ListEntryQuerySet.as_manager()

    class Meta:
        verbose_name = "My list entry"
        verbose_name_plural = "My list entries"
        constraints = [
            models.UniqueConstraint(fields=["user", "movie"], name="list_entry_one_per_movie")
        ]
        # The row and the page: one viewer's entries, newest first.
        indexes = [models.Index(fields=["user", "-added_at"], name="list_entry_user_recent")]

    def __str__(self) -> str:
        return f"{self.movie_id} on the list of user {self.user_id}"
