"""One sort vocabulary: the browse page's ``?sort=`` and the API's ``?ordering=`` order the same
films the same way for every name they share, ties and missing release dates included."""

from __future__ import annotations

import datetime as dt

import pytest

from catalog.ordering import MENU

pytestmark = pytest.mark.django_db


@pytest.fixture
def films(make_movie) -> None:
    # Ties on every sort column, and films without a release date, so only the shared
    # tie-breaker and the shared NULL rule decide the order.
    rows = [
        ("Brazil", 10.0, 7.5, 300, dt.date(1985, 2, 20)),
        ("Arrival", 10.0, 7.5, 900, dt.date(2016, 11, 11)),
        ("Casablanca", 30.0, 8.5, 500, None),
        ("Dune", 30.0, 8.0, 900, dt.date(2021, 10, 22)),
        ("Eraserhead", 5.0, 7.5, 300, None),
        ("Fargo", 5.0, 8.0, 900, dt.date(2016, 11, 11)),
        ("Gattaca", 20.0, 7.0, 100, dt.date(1997, 10, 24)),
    ]
    for title, popularity, vote_average, vote_count, release_date in rows:
        make_movie(
            title,
            popularity=popularity,
            vote_average=vote_average,
            vote_count=vote_count,
            release_date=release_date,
        )


def page_titles(client, sort: str) -> list[str]:
    response = client.get(f"/browse/?sort={sort}")
    assert response.status_code == 200
    return [movie.title for movie in response.context["page"].object_list]


def api_titles(api_client, ordering: str) -> list[str]:
    seen: list[str] = []
    url = f"/api/movies?ordering={ordering}&page_size=2"
    while url:
        body = api_client.get(url).json()
        seen += [movie["title"] for movie in body["results"]]
        url = body["next"]
    return seen


@pytest.mark.parametrize("name", MENU)
def test_page_and_api_order_films_the_same_way(client, api_client, films, name):
    on_page = page_titles(client, name)

    assert api_titles(api_client, name) == on_page
    assert len(on_page) == 7


def test_the_apis_popularity_is_the_pages_popular(client, api_client, films):
    assert api_titles(api_client, "popularity") == page_titles(client, "popular")
    assert api_titles(api_client, "popularity") == api_titles(api_client, "popular")


def test_newest_puts_films_without_a_release_date_last_on_both(client, api_client, films):
    # Arrival and Fargo share a date, as do the two undated films: the later-added comes first.
    expected = ["Dune", "Fargo", "Arrival", "Gattaca", "Brazil", "Eraserhead", "Casablanca"]

    assert page_titles(client, "newest") == expected
    assert api_titles(api_client, "newest") == expected


def test_rating_breaks_equal_ratings_by_vote_count_on_both(client, api_client, films):
    # Casablanca 8.5; Dune and Fargo 8.0 with 900 votes each; Arrival, Brazil and Eraserhead
    # 7.5, Arrival with the most votes; Gattaca 7.0.
    expected = ["Casablanca", "Fargo", "Dune", "Arrival", "Eraserhead", "Brazil", "Gattaca"]

    assert page_titles(client, "rating") == expected
    assert api_titles(api_client, "rating") == expected
