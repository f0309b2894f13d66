"""Cast and crew on the detail page, "More like this" ranked in the database, the similar-titles
API, and how both are cached and invalidated with the rest of the catalog."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django.asserts import assertContains, assertNotContains

from catalog import services
from catalog.models import Credit, Movie, Person
from catalog.services import CreditData

pytestmark = pytest.mark.django_db

SPACE = "Astronauts aboard a failing space station drift toward the sun and fight to reach home."


def titles(response) -> list[str]:
    return [movie["title"] for movie in response.json()["results"]]


@pytest.fixture
def space_films(make_movie):
    """A film, and others sharing two, one or no genres with it, overviews near and far."""
    target = make_movie("Sunward", genres=("Science Fiction", "Drama"), overview=SPACE)
    return {
        "target": target,
        # Both genres, an unrelated overview, barely known: first all the same.
        "both": make_movie(
            "Two Genres",
            genres=("Science Fiction", "Drama"),
            overview="A family bakery in Lyon changes hands.",
            popularity=1.0,
        ),
        # One genre and nearly the same story: ahead of a more popular one-genre film.
        "near": make_movie(
            "Station Zero",
            genres=("Science Fiction",),
            overview="Astronauts on a space station fight to reach home as it drifts.",
            popularity=5.0,
        ),
        "popular": make_movie(
            "Loud Robots",
            genres=("Science Fiction",),
            overview="Giant robots wrestle in a stadium.",
            popularity=90.0,
        ),
        "unrelated": make_movie("Meadow", genres=("Romance",), overview=SPACE, popularity=99.0),
        "draft": make_movie("Unreleased", genres=("Science Fiction", "Drama"), published=False),
    }


def test_more_like_this_ranks_shared_genres_then_similar_overviews_then_popularity(
    api_client, space_films
):
    target = space_films["target"]

    response = api_client.get(f"/api/movies/{target.pk}/similar")

    assert response.status_code == 200
    # Never the film itself, an unpublished one, or one sharing no genre with it.
    assert titles(response) == ["Two Genres", "Station Zero", "Loud Robots"]


def test_similar_answers_in_the_list_endpoints_movie_shape(api_client, space_films):
    target = space_films["target"]

    similar = api_client.get(f"/api/movies/{target.pk}/similar").json()["results"]
    listed = {movie["id"]: movie for movie in api_client.get("/api/movies").json()["results"]}

    assert similar and all(movie == listed[movie["id"]] for movie in similar)


def test_similar_of_an_unknown_or_unpublished_movie_is_a_json_404(api_client, space_films):
    for movie_id in (space_films["draft"].pk, 999_999):
        response = api_client.get(f"/api/movies/{movie_id}/similar")

        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


@pytest.mark.django_db(transaction=True)  # the cache moves on at commit
def test_similar_is_cached_until_the_catalog_changes(api_client, space_films):
    path = f"/api/movies/{space_films['target'].pk}/similar"
    assert api_client.get(path)["X-Cache"] == "MISS"
    assert api_client.get(path)["X-Cache"] == "HIT"

    services.set_published(movie_ids=[space_films["draft"].pk], published=True)

    response = api_client.get(path)
    assert response["X-Cache"] == "MISS"
    assert titles(response)[:2] == ["Two Genres", "Unreleased"]  # two genres, now published


@pytest.fixture
def fight_club(make_movie):
    movie = make_movie(
        "Fight Club",
        genres=("Drama",),
        release_date=dt.date(1999, 10, 15),
        overview="An office worker and a soap maker start an underground club.",
    )
    services.set_credits(
        movie=movie,
        credits=[
            CreditData("Edward Norton", character="The Narrator", order=0),
            CreditData("Brad Pitt", character="Tyler Durden", order=1),
            CreditData("Helena Bonham Carter", character="Marla Singer", order=2),
            CreditData("David Fincher", role=Credit.Role.DIRECTOR),
        ],
    )
    make_movie("The Game", genres=("Drama", "Thriller"))
    return movie


def test_detail_shows_the_director_the_top_billed_cast_and_more_like_this(client, fight_club):
    response = client.get(fight_club.get_absolute_url())

    assertContains(response, "Directed by <strong>David Fincher</strong>")
    page = response.content.decode()
    order = [page.index(name) for name in ("Edward Norton", "Brad Pitt", "Helena Bonham Carter")]
    assert order == sorted(order)
    assertContains(response, '<span class="visually-hidden">as </span>Tyler Durden')
    assertContains(response, '<h2 class="row__title" id="similar-title">More like this</h2>')
    assertContains(response, "The Game")


@pytest.mark.django_db(transaction=True)
def test_a_credit_edited_in_the_admin_reaches_the_cached_page_at_once(
    client, admin_client, fight_club
):
    path = fight_club.get_absolute_url()
    client.get(path)
    assert client.get(path)["X-Cache"] == "HIT"
    credit = Credit.objects.get(person__name="Brad Pitt")

    credit.character = "Tyler"
    credit.save()  # as the admin's inline does
    person = Person.objects.get(name="Edward Norton")
    person.name = "Edward Harrison Norton"
    person.save()

    response = client.get(path)
    assert response["X-Cache"] == "MISS"
    assertContains(response, "Tyler</span>")
    assertContains(response, "Edward Harrison Norton")


def detail_queries(client: Client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in queries]


def test_a_signed_in_viewers_detail_page_reads_cast_and_similar_from_the_cache(fight_club):
    viewer = get_user_model().objects.create_user("viewer")
    client = Client()
    client.force_login(viewer)
    path = fight_club.get_absolute_url()

    uncached = detail_queries(client, path)
    cached = detail_queries(client, path)

    # Their page is their own (My list, progress), but the credits and the similar films
    # are the catalog's: the second request reads neither.
    assert any("catalog_credit" in sql for sql in uncached)
    assert not any("catalog_credit" in sql or "ts_rank" in sql for sql in cached)
    assert len(cached) < len(uncached)


def test_demo_catalog_has_cast_and_directors_for_the_forty_best_known_films(db):
    call_command("load_demo", verbosity=0)

    for movie in Movie.objects.popular()[:40]:
        assert movie.credits.directors().exists(), movie.title
        cast = list(movie.credits.cast())
        assert len(cast) >= 4, movie.title
        assert all(credit.character for credit in cast), movie.title
    godfather = Credit.objects.get(movie__title="The Godfather", person__name="Al Pacino")
    assert godfather.character == "Michael Corleone"

    # Loaded again (make run does on every start): one person per name, no duplicate credit.
    people, credits = Person.objects.count(), Credit.objects.count()
    call_command("load_demo", verbosity=0)
    assert (Person.objects.count(), Credit.objects.count()) == (people, credits)
    assert Person.objects.filter(name="Leonardo DiCaprio").count() == 1


def test_a_movie_without_credits_shows_no_empty_section(client, make_movie):
    movie = make_movie("Obscure Short")

    response = client.get(movie.get_absolute_url())

    assertNotContains(response, "Cast and crew")
    assertNotContains(response, "More like this")
