"""Viewer pages. Each view validates its input, asks the querysets, and renders."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from catalog import artwork, services
from catalog.models import Credit, Genre, ListEntry, Movie
from catalog.ordering import DEFAULT, MENU, ORDERINGS
from streamsite import cache, http_cache

ROW_LENGTH = 12
SIMILAR_LENGTH = 12
GENRE_ROWS = 4
BROWSE_PAGE_SIZE = 24
MAX_QUERY_LENGTH = 200


@require_safe
@http_cache.page("catalog", "home")
def home(request: HttpRequest) -> HttpResponse:
    published = Movie.objects.published()
    hero = published.featured().popular().prefetch_related("genres").first()
    top_genres = (
        Genre.objects.annotate(published_count=Count("movies", filter=Q(movies__is_published=True)))
        .filter(published_count__gt=0)
        .order_by("-published_count", "name")[:GENRE_ROWS]
    )
    rows = [
        {"title": "Popular now", "movies": published.popular().with_card_fields()[:ROW_LENGTH]},
        {"title": "New releases", "movies": published.newest().with_card_fields()[:ROW_LENGTH]},
    ]
    rows += [
        {
            "title": genre.name,
            "link": genre.get_absolute_url(),
            "movies": published.in_genre(genre).popular().with_card_fields()[:ROW_LENGTH],
        }
        for genre in top_genres
    ]
    return render(request, "catalog/home.html", {"hero": hero, "rows": rows})


class BrowseForm(forms.Form):
    genre = forms.ModelChoiceField(
        queryset=Genre.objects.all(), to_field_name="slug", required=False, empty_label="All genres"
    )
    year = forms.IntegerField(
        min_value=1870,
        max_value=2100,
        required=False,
        # A text box (numeric keypad on phones) so a rejected value stays visible next to its
        # error; a number input would silently blank it.
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "Any year"}),
    )
    sort = forms.ChoiceField(
        label="Sort by",
        choices=[(name, ORDERINGS[name].label) for name in MENU],
        required=False,
    )


@require_safe
@http_cache.page("catalog", "browse", params=("genre", "year", "sort", "page"))
def browse(request: HttpRequest) -> HttpResponse:
    form = BrowseForm(request.GET)
    if not form.is_valid():
        return render(request, "catalog/browse.html", {"form": form, "page": None}, status=400)
    movies = Movie.objects.published().with_card_fields()
    if genre := form.cleaned_data["genre"]:
        movies = movies.in_genre(genre)
    if (year := form.cleaned_data["year"]) is not None:
        movies = movies.released_in(year)
    movies = movies.ordered(form.cleaned_data["sort"] or DEFAULT)
    paginator = Paginator(movies, BROWSE_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "catalog/browse.html",
        {"form": form, "page": page, "genre": genre, "year": year, "query": query.urlencode()},
    )


@require_safe
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    error = ""
    if len(query) > MAX_QUERY_LENGTH:
        error = "too_long"
    elif "\x00" in query:  # typed by nobody, and PostgreSQL cannot compare text holding one
        error = "null_character"
    if error:
        shown = query[:MAX_QUERY_LENGTH].replace("\x00", "")
        context = {"query": shown, "results": [], "error": error}
        return render(request, "catalog/search.html", context, status=400)
    published = Movie.objects.published().with_card_fields()
    results = list(published.search(query)[:SEARCH_RESULTS]) if query else []
    corrected = ""
    if query and not results:
        # Nothing matched as typed: titles close to it, for the typo ("godfater").
        results = list(published.similar_titles(query)[:SEARCH_RESULTS])
        corrected = results[0].title if results else ""
    context = {"query": query, "results": results, "corrected": corrected}
    return render(request, "catalog/search.html", context)


SEARCH_RESULTS = 48


@dataclass(frozen=True)
class DetailExtras:
    """What the detail page shows besides the movie itself, cached with the catalog."""

    cast: list[Credit]
    directors: list[Credit]
    similar: list[Movie]


def detail_extras(movie: Movie) -> DetailExtras:
    """Cast, directors and "More like this" of ``movie``, from the catalog cache.

    Anonymous viewers get the whole page from the cache; signed-in viewers' pages are theirs
    (continue watching, My list) and rendered each time, so this part is cached on its own.
    Any catalog change invalidates it with everything else.
    """

    def load() -> DetailExtras:
        credits = list(movie.credits.select_related("person").billing_order())
        similar = Movie.objects.published().with_card_fields().similar_to(movie)
        return DetailExtras(
            cast=[c for c in credits if c.role == Credit.Role.CAST],
            directors=[c for c in credits if c.role == Credit.Role.DIRECTOR],
            similar=list(similar[:SIMILAR_LENGTH]),
        )

    return cache.cached("catalog", "detail-extras", movie.pk, loader=load).value


@require_safe
@http_cache.page("catalog", "detail")
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    movie = get_object_or_404(Movie.objects.published().prefetch_related("genres"), slug=slug)
    return render(request, "catalog/detail.html", {"movie": movie, "extras": detail_extras(movie)})


# --- My list --------------------------------------------------------------------------------


@require_safe
@login_required
def my_list(request: HttpRequest) -> HttpResponse:
    entries = (
        ListEntry.objects.of_user(request.user.pk)
        .published()
        .newest_first()
        .prefetch_related(
            Prefetch("movie", queryset=Movie.objects.with_card_fields()),
        )
    )
    movies = [entry.movie for entry in entries]
    response = render(request, "catalog/my_list.html", {"movies": movies})
    response["Cache-Control"] = "private, no-cache"
    return response


class ListChangeForm(forms.Form):
    action = forms.ChoiceField(choices=[("add", "Add"), ("remove", "Remove")])


@require_POST
@login_required
def change_my_list(request: HttpRequest, movie_id: int) -> HttpResponse:
    """The form behind every "My list" button, for browsers without JavaScript (with it, the
    same buttons call the API): add or remove, then back to the page the viewer was on."""
    movie = Movie.objects.published().only("id", "slug").filter(pk=movie_id).first()
    if movie is None:
        raise Http404
    form = ListChangeForm(request.POST)
    if not form.is_valid():
        return HttpResponse("action: choose add or remove.", status=400, content_type="text/plain")
    if form.cleaned_data["action"] == "add":
        services.add_to_list(user_id=request.user.pk, movie_id=movie.pk)
    else:
        services.remove_from_list(user_id=request.user.pk, movie_id=movie.pk)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = movie.get_absolute_url()
    return HttpResponseRedirect(next_url)


# Generated artwork never changes for a given movie title, so browsers may keep it a day.
ARTWORK_CACHE_CONTROL = "public, max-age=86400"


@require_safe
def poster(request: HttpRequest, slug: str) -> HttpResponse:
    movie = get_object_or_404(Movie.objects.prefetch_related("genres"), slug=slug)
    svg = artwork.poster_svg(
        title=movie.title,
        year=movie.year,
        genres=[genre.name for genre in movie.genres.all()],
        seed=movie.tmdb_id,
    )
    return _svg_response(svg)


@require_safe
def backdrop(request: HttpRequest, slug: str) -> HttpResponse:
    movie = get_object_or_404(Movie.objects.only("title", "tmdb_id"), slug=slug)
    return _svg_response(artwork.backdrop_svg(title=movie.title, seed=movie.tmdb_id))


def _svg_response(svg: str) -> HttpResponse:
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Cache-Control"] = ARTWORK_CACHE_CONTROL
    return response
