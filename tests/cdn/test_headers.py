"""Cache headers the edge obeys: s-maxage and Cache-Tag on shared answers, private on personal."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from catalog.models import Genre
from streamsite import cache


def tags(response) -> set[str]:
    return set(response["Cache-Tag"].split(","))


@pytest.fixture
def edge_lifetime(settings) -> int:
    settings.CDN_S_MAXAGE = 86_400
    return settings.CDN_S_MAXAGE


@pytest.mark.django_db
def test_anonymous_pages_carry_s_maxage_and_tags_naming_what_they_show(
    client, make_movie, edge_lifetime
):
    heat = make_movie("Heat", genres=("Crime",))
    alien = make_movie("Alien", genres=("Horror",))
    crime = Genre.objects.get(name="Crime")

    for path in ("/", "/browse/?genre=crime"):
        first, second = client.get(path), client.get(path)  # a miss, then a hit

        for response in (first, second):
            assert response["Cache-Control"] == (
                f"public, max-age={cache.ttl('http')}, s-maxage={edge_lifetime}"
            )
        assert tags(first) == tags(second), path
        assert {f"movie-{heat.pk}", f"genre-{crime.pk}"} <= tags(second), path

    detail = client.get(heat.get_absolute_url())
    assert detail["Cache-Tag"].split(",")[0] == "catalog-detail"
    assert f"movie-{heat.pk}" in tags(detail)
    assert f"movie-{alien.pk}" not in tags(detail)
    assert "catalog-home" in tags(client.get("/"))


@pytest.mark.django_db
def test_catalog_api_answers_carry_s_maxage_and_their_movies_and_genres(
    api_client, make_movie, edge_lifetime
):
    heat = make_movie("Heat", genres=("Crime",))
    crime = Genre.objects.get(name="Crime")

    listing = api_client.get("/api/movies")
    again = api_client.get("/api/movies")  # answered in front of DRF, from the cache
    one = api_client.get(f"/api/movies/{heat.pk}")
    genres = api_client.get("/api/genres")

    assert again["X-Cache"] == "HIT"
    for response in (listing, again, one, genres):
        assert f"s-maxage={edge_lifetime}" in response["Cache-Control"]
    assert {"catalog-movie-list", f"movie-{heat.pk}", f"genre-{crime.pk}"} <= tags(again)
    assert tags(listing) == tags(again)
    assert {"catalog-movie-detail", f"movie-{heat.pk}"} <= tags(one)
    assert {"catalog-genre-list", f"genre-{crime.pk}"} <= tags(genres)


@pytest.mark.django_db
def test_generated_artwork_is_tagged_with_its_movie(client, make_movie):
    heat = make_movie("Heat")

    poster = client.get(f"/artwork/{heat.slug}/poster.svg")

    assert poster["Cache-Control"].startswith("public")
    assert f"movie-{heat.pk}" in tags(poster)


@pytest.mark.django_db
def test_signed_in_answers_are_private_and_carry_no_tags(client, api_client, make_movie):
    heat = make_movie("Heat")
    user = get_user_model().objects.create_user("viewer", password="a long passphrase 1")
    client.force_login(user)
    api_client.force_login(user)

    page = client.get(heat.get_absolute_url())
    answer = api_client.get(f"/api/movies/{heat.pk}")

    for response in (page, answer):
        assert response["Cache-Control"].startswith("private")
        assert "s-maxage" not in response["Cache-Control"]
        assert "Cache-Tag" not in response


def test_an_answer_naming_too_many_rows_is_tagged_by_its_view_alone():
    from streamsite import edge_tags

    many = {f"movie-{n}" for n in range(1_000)}

    assert edge_tags.header(many, always=["catalog-movie-list"]) == "catalog-movie-list"
    assert edge_tags.header({"movie-2", "genre-1"}, always=["catalog-home"]) == (
        "catalog-home,genre-1,movie-2"
    )
