"""Search that forgives: suggestions while typing, and a typo-tolerant fallback when full-text
search finds nothing."""

from __future__ import annotations

import pytest
from pytest_django.asserts import assertContains, assertNotContains

from catalog.models import title_closeness

pytestmark = pytest.mark.django_db


@pytest.fixture
def godfathers(make_movie):
    make_movie("The Godfather", genres=("Crime",), popularity=90.0)
    make_movie("The Godfather Part II", genres=("Crime",), popularity=60.0)
    make_movie("God's Own Country", genres=("Drama",), popularity=10.0)
    make_movie("Goodfellas", genres=("Crime",), popularity=50.0)


def test_a_misspelt_title_finds_the_film_and_says_what_it_shows(client, godfathers):
    response = client.get("/search/?q=godfater")

    assert response.status_code == 200
    assertContains(response, "Showing results for <strong>“The Godfather”</strong>")
    assertContains(response, "Nothing matched “godfater” as typed")
    page = response.content.decode()
    assert page.index("The Godfather</span>") < page.index("The Godfather Part II</span>")


def test_an_exact_match_shows_no_correction(client, godfathers):
    response = client.get("/search/?q=godfather")

    assertContains(response, "2 results for “godfather”")
    assertNotContains(response, "Showing results for")


def test_nothing_close_is_still_nothing(client, godfathers):
    response = client.get("/search/?q=zzzqqq")

    assertContains(response, "Nothing matched “zzzqqq”")


def test_the_demo_databases_fallback_measures_closeness_to_the_title_and_its_words():
    assert title_closeness("godfater", "The Godfather") > 0.9
    assert title_closeness("shawshenk redemtion", "The Shawshank Redemption") > 0.85
    assert title_closeness("alien", "Amélie") < 0.75


def test_suggestions_put_titles_starting_with_the_text_first(api_client, godfathers):
    response = api_client.get("/api/movies/suggest?q=god")

    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "god"
    titles = [item["title"] for item in body["results"]]
    assert titles[0] == "God's Own Country"  # the one starting with it
    assert {"The Godfather", "The Godfather Part II"} <= set(titles)
    first = body["results"][0]
    assert set(first) == {"id", "title", "year", "poster_url", "page_url"}
    assert first["page_url"].startswith("/movies/")


def test_suggestions_forgive_a_typo_on_postgres(api_client, godfathers):
    titles = [
        m["title"] for m in api_client.get("/api/movies/suggest?q=godfater").json()["results"]
    ]

    assert titles[0] == "The Godfather"


def test_suggestions_are_cached_and_limited(api_client, godfathers):
    path = "/api/movies/suggest?q=the&limit=1"

    first = api_client.get(path)
    second = api_client.get(path)

    assert len(first.json()["results"]) == 1
    assert (first["X-Cache"], second["X-Cache"]) == ("MISS", "HIT")


@pytest.mark.parametrize(
    ("query", "field"),
    [("", "q"), ("q=", "q"), ("q=%20%20", "q"), ("q=ab&limit=11", "limit"), ("q=a%00", "q")],
)
def test_bad_suggestion_parameters_are_400_naming_the_parameter(api_client, db, query, field):
    response = api_client.get(f"/api/movies/suggest?{query}")

    assert response.status_code == 400
    assert field in response.json()["fields"]
