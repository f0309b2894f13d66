"""The editor admin: the movie list stays cheap, bulk actions curate the catalog."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Movie

pytestmark = pytest.mark.django_db


def movie_list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/catalog/movie/")
    assert response.status_code == 200
    return len(queries)


def test_movie_list_query_count_does_not_grow_with_movies(admin_client, make_movie):
    for number in range(3):
        make_movie(f"Movie {number}", genres=("Drama", "Comedy"))
    few = movie_list_queries(admin_client)

    for number in range(3, 30):
        make_movie(f"Movie {number}", genres=("Drama", "Action"))

    assert movie_list_queries(admin_client) == few


def test_movie_list_shows_poster_thumbnails_and_filters(admin_client, make_movie):
    make_movie("Fight Club", genres=("Drama",))

    page = admin_client.get("/admin/catalog/movie/").content.decode()

    assert '<img src="/artwork/fight-club/poster.svg"' in page
    for filter_title in ("published", "featured", "genres", "release decade"):
        assert f'data-filter-title="{filter_title}"' in page


def test_admin_search_finds_by_title_and_tmdb_id(admin_client, make_movie):
    make_movie("Pulp Fiction", tmdb_id=680)
    make_movie("Forrest Gump", tmdb_id=13)

    by_title = admin_client.get("/admin/catalog/movie/?q=pulp").content.decode()
    by_id = admin_client.get("/admin/catalog/movie/?q=13").content.decode()

    assert "Pulp Fiction" in by_title and "Forrest Gump" not in by_title
    assert "Forrest Gump" in by_id and "Pulp Fiction" not in by_id


@pytest.mark.parametrize(
    ("action", "field", "expected"),
    [
        ("publish", "is_published", True),
        ("unpublish", "is_published", False),
        ("feature", "is_featured", True),
        ("unfeature", "is_featured", False),
    ],
)
def test_bulk_actions_change_every_selected_movie(
    admin_client, make_movie, action, field, expected
):
    movies = [
        make_movie("A", published=not expected, featured=not expected),
        make_movie("B", published=not expected, featured=not expected),
    ]
    bystander = make_movie("C", published=not expected, featured=not expected)

    response = admin_client.post(
        "/admin/catalog/movie/",
        {"action": action, "_selected_action": [movie.pk for movie in movies]},
        follow=True,
    )

    assert response.status_code == 200
    assert "2 movies" in response.content.decode()
    assert all(getattr(Movie.objects.get(pk=m.pk), field) is expected for m in movies)
    assert getattr(Movie.objects.get(pk=bystander.pk), field) is not expected


def test_editor_fixes_metadata_in_the_change_form(admin_client, make_movie):
    movie = make_movie("Teh Matrix", genres=("Action",))
    genre_id = movie.genres.get().pk

    response = admin_client.post(
        f"/admin/catalog/movie/{movie.pk}/change/",
        {
            "title": "The Matrix",
            "slug": "the-matrix",
            "original_title": "The Matrix",
            "tagline": "",
            "overview": "A hacker learns the truth.",
            "release_date": "1999-03-31",
            "runtime": "136",
            "genres": [genre_id],
            "is_published": "on",
            "poster_path": "",
            "backdrop_path": "",
            "tmdb_id": movie.tmdb_id,
            "imdb_id": "tt0133093",
            "popularity": "80",
            "vote_average": "8.2",
            "vote_count": "25000",
            # The page's credits, videos and video upload inlines, left empty.
            "credits-TOTAL_FORMS": "0",
            "credits-INITIAL_FORMS": "0",
            "videos-TOTAL_FORMS": "0",
            "videos-INITIAL_FORMS": "0",
            "videos-2-TOTAL_FORMS": "0",
            "videos-2-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    movie.refresh_from_db()
    assert (movie.title, movie.slug, movie.runtime) == ("The Matrix", "the-matrix", 136)
    assert list(Movie.objects.search("matrix")) == [movie]


def test_genre_admin_lists_counts(admin_client, make_movie):
    make_movie("One", genres=("Western",))

    page = admin_client.get("/admin/catalog/genre/").content.decode()

    assert "Western" in page


def test_admin_is_for_staff_only(client, django_user_model):
    django_user_model.objects.create_user(username="viewer", password="pw-123456-long")
    client.login(username="viewer", password="pw-123456-long")

    response = client.get("/admin/catalog/movie/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
