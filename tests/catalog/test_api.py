"""The public catalog API: listing, filtering, pagination, detail, search, genres, errors."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def titles(response) -> list[str]:
    return [movie["title"] for movie in response.json()["results"]]


def test_list_shows_published_movies_most_popular_first(api_client, make_movie):
    make_movie("Quiet Film", popularity=1.0)
    make_movie("Big Hit", popularity=90.0)
    make_movie("Draft", popularity=99.0, published=False)

    response = api_client.get("/api/movies")

    assert response.status_code == 200
    assert titles(response) == ["Big Hit", "Quiet Film"]


def test_list_filters_by_genre_year_and_featured(api_client, make_movie):
    make_movie("Alien", genres=("Horror", "Science Fiction"), release_date=dt.date(1979, 5, 25))
    make_movie("Aliens", genres=("Science Fiction",), release_date=dt.date(1986, 7, 18))
    make_movie("Heat", genres=("Crime",), release_date=dt.date(1995, 12, 15), featured=True)

    assert titles(api_client.get("/api/movies?genre=science-fiction&year=1979")) == ["Alien"]
    assert titles(api_client.get("/api/movies?featured=true")) == ["Heat"]
    assert set(titles(api_client.get("/api/movies?featured=false"))) == {"Alien", "Aliens"}


def test_cursor_pagination_walks_every_movie_exactly_once(api_client, make_movie):
    # Equal popularity everywhere: only the id tie-breaker keeps pages apart.
    for number in range(7):
        make_movie(f"Movie {number}", popularity=5.0)

    seen: list[str] = []
    url = "/api/movies?page_size=3"
    while url:
        body = api_client.get(url).json()
        seen += [movie["title"] for movie in body["results"]]
        url = body["next"]

    assert sorted(seen) == sorted(f"Movie {number}" for number in range(7))
    assert len(seen) == 7


def walk(api_client, url: str) -> list[str]:
    seen: list[str] = []
    while url:
        body = api_client.get(url).json()
        seen += [movie["title"] for movie in body["results"]]
        url = body["next"]
    return seen


def test_date_orderings_put_undated_movies_last(api_client, make_movie):
    make_movie("Old", release_date=dt.date(1950, 1, 1))
    make_movie("New", release_date=dt.date(2020, 1, 1))
    make_movie("Undated", release_date=None)

    assert titles(api_client.get("/api/movies?ordering=newest")) == ["New", "Old", "Undated"]
    assert titles(api_client.get("/api/movies?ordering=oldest")) == ["Old", "New", "Undated"]


@pytest.mark.parametrize("ordering", ["newest", "oldest"])
def test_cursor_walks_every_movie_once_when_some_have_no_release_date(
    api_client, make_movie, ordering
):
    # Undated movies share one position at the end: pages must neither repeat nor drop them.
    for number in range(4):
        make_movie(f"Dated {number}", release_date=dt.date(2000 + number, 1, 1))
    for number in range(5):
        make_movie(f"Undated {number}", release_date=None)

    seen = walk(api_client, f"/api/movies?ordering={ordering}&page_size=2")

    assert len(seen) == 9
    assert set(seen) == {f"Dated {n}" for n in range(4)} | {f"Undated {n}" for n in range(5)}
    assert all(title.startswith("Undated") for title in seen[4:])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("year=nineteen", "year"),
        ("year=1200", "year"),
        ("featured=maybe", "featured"),
        ("ordering=loudest", "ordering"),
        ("page_size=1000", "page_size"),
        ("colour=red", "colour"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(api_client, make_movie, query, field):
    make_movie("Anything")

    response = api_client.get(f"/api/movies?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert field in body["fields"]
    assert body["detail"].startswith(f"{field}:")


def cursor(text: str) -> str:
    """A cursor as DRF encodes one (base64 of its query string), with any content."""
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("genre=%00", "genre"),
        ("genre=drama%00", "genre"),
    ],
)
def test_crafted_list_parameters_are_400_naming_the_parameter_never_500(
    api_client, make_movie, query, field
):
    make_movie("Anything", genres=("Drama",))

    response = api_client.get(f"/api/movies?{query}")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("genre=no-such-genre", "genre"),
        ("cursor=not-a-cursor", "cursor"),
        (f"cursor={cursor('p=abc')}", "cursor"),
        (f"ordering=rating&cursor={cursor('p=abc')}", "cursor"),
        (f"ordering=newest&cursor={cursor('p=notadate')}", "cursor"),
        (f"ordering=oldest&cursor={cursor('p=99999-01-01')}", "cursor"),
        (f"ordering=title&cursor={cursor('p=a' + chr(0))}", "cursor"),
        (f"cursor={cursor('o=abc&p=1')}", "cursor"),
    ],
)
def test_a_genre_or_cursor_that_names_nothing_is_404_naming_the_parameter_never_500(
    api_client, make_movie, query, field
):
    # Well-formed (the schema cannot tell which genres exist, or what a cursor holds), but
    # naming nothing, as an unknown movie id does.
    make_movie("Anything", genres=("Drama",))

    response = api_client.get(f"/api/movies?{query}")

    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found"
    assert body["detail"].startswith(f"{field}:")


def test_list_query_count_does_not_grow_with_results(
    api_client, make_movie, django_assert_num_queries
):
    for number in range(30):
        make_movie(f"Movie {number}", genres=("Drama", "Comedy"))

    # One query for the page of movies, one for all their genres.
    with django_assert_num_queries(2):
        response = api_client.get("/api/movies?page_size=5")
    assert len(response.json()["results"]) == 5

    with django_assert_num_queries(2):
        response = api_client.get("/api/movies?page_size=30")
    assert len(response.json()["results"]) == 30


def test_list_selects_only_the_columns_it_serializes(
    api_client, make_movie, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_movie("Lean", overview="A long overview the list never shows.")
    with CaptureQueriesContext(connection) as queries:
        api_client.get("/api/movies")

    movie_query = queries.captured_queries[0]["sql"]
    assert '"overview"' not in movie_query
    assert '"search_vector"' not in movie_query


def test_detail_returns_the_full_record(api_client, make_movie):
    movie = make_movie(
        "Fight Club",
        genres=("Drama",),
        release_date=dt.date(1999, 10, 15),
        runtime=139,
        imdb_id="tt0137523",
        overview="An insomniac meets a soap salesman.",
    )

    response = api_client.get(f"/api/movies/{movie.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Fight Club"
    assert body["year"] == 1999
    assert body["runtime"] == 139
    assert body["imdb_id"] == "tt0137523"
    assert body["genres"] == [{"id": movie.genres.get().pk, "name": "Drama", "slug": "drama"}]
    assert body["page_url"] == f"/movies/{movie.slug}/"


def test_detail_of_unknown_or_unpublished_movie_is_404_json(api_client, make_movie):
    draft = make_movie("Draft", published=False)

    for movie_id in (draft.pk, 999_999):
        response = api_client.get(f"/api/movies/{movie_id}")
        assert response.status_code == 404
        assert response.json() == {"error": "not_found", "detail": "Not found."}


def test_search_finds_by_title_and_ranks_title_matches_first(api_client, make_movie):
    make_movie("The Matrix", overview="A hacker learns the truth.", popularity=80)
    make_movie("Hackers", overview="Teenagers and a matrix of phone lines.", popularity=99)
    make_movie("Amélie", overview="A shy waitress in Paris.")

    response = api_client.get("/api/movies/search?q=matrix")

    assert response.status_code == 200
    assert titles(response) == ["The Matrix", "Hackers"]


@pytest.mark.parametrize(
    ("query", "field"), [("q=" + "x" * 201, "q"), ("", "q"), ("q=a&limit=0", "limit")]
)
def test_bad_search_parameters_are_400(api_client, db, query, field):
    response = api_client.get(f"/api/movies/search?{query}")

    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_genres_list_counts_published_movies(api_client, make_movie):
    make_movie("One", genres=("Drama",))
    make_movie("Two", genres=("Drama", "Comedy"))
    make_movie("Hidden", genres=("Comedy",), published=False)

    response = api_client.get("/api/genres")

    counts = {genre["name"]: genre["movie_count"] for genre in response.json()["results"]}
    assert counts == {"Comedy": 1, "Drama": 2}


def test_unknown_api_path_is_json_404(client, db):
    response = client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_openapi_schema_and_offline_docs(client, db):
    schema = client.get(reverse("schema"))
    assert schema.status_code == 200
    assert b"/api/movies/{movie_id}" in schema.content

    docs = client.get(reverse("docs"))
    assert docs.status_code == 200
    # Swagger UI is served from our own static files, not a CDN.
    assert b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr.net" not in docs.content
