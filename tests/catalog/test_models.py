"""Catalog models: querysets, indexes, full-text search and imported-data upserts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from catalog.models import Movie
from catalog.services import MovieData, set_featured, set_published, upsert_movie

pytestmark = pytest.mark.django_db


def test_querysets_chain(make_movie):
    make_movie("Alien", genres=("Horror",), release_date=dt.date(1979, 5, 25), popularity=50)
    make_movie("The Thing", genres=("Horror",), release_date=dt.date(1982, 6, 25), popularity=60)
    make_movie("Hidden Horror", genres=("Horror",), published=False, popularity=99)
    make_movie("Tootsie", genres=("Comedy",), release_date=dt.date(1982, 12, 17))

    horror_1982 = Movie.objects.published().in_genre("horror").released_in(1982).popular()

    assert [movie.title for movie in horror_1982] == ["The Thing"]
    assert [m.title for m in Movie.objects.published().in_genre("horror").popular()] == [
        "The Thing",
        "Alien",
    ]


def test_featured_lists_only_featured(make_movie):
    make_movie("Star", featured=True)
    make_movie("Extra")

    assert [movie.title for movie in Movie.objects.published().featured()] == ["Star"]


def test_search_vector_follows_edits(make_movie):
    movie = make_movie("Working Title", overview="About nothing yet.")
    assert not Movie.objects.search("Heat").exists()

    movie.title = "Heat"
    movie.save()

    assert list(Movie.objects.search("heat")) == [movie]


def test_search_ranks_title_over_original_title_over_overview(make_movie):
    overview = make_movie("Night Shift", overview="A story of a long voyage.")
    original = make_movie("Spirited Away", original_title="Voyage of Chihiro")
    title = make_movie("Voyage")

    assert list(Movie.objects.search("voyage")) == [title, original, overview]


def test_search_of_blank_query_finds_nothing(make_movie):
    make_movie("Anything")

    assert not Movie.objects.search("   ").exists()


def test_listing_and_search_indexes_exist_on_postgres():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'catalog_movie'"
        )
        indexes = dict(cursor.fetchall())

    assert "movie_published_popular" in indexes
    assert "movie_published_released" in indexes
    assert "WHERE (is_featured AND is_published)" in indexes["movie_featured_partial"]
    assert "USING gin (search_vector)" in indexes["movie_search_vector_gin"]


def test_upsert_refreshes_metadata_but_keeps_editorial_choices(make_movie):
    movie = make_movie("Heat", tmdb_id=949, popularity=10, featured=False)
    movie.is_published = False
    movie.save(update_fields=["is_published"])

    upsert_movie(data=MovieData(tmdb_id=949, title="Heat", popularity=42.0), publish=True)

    movie.refresh_from_db()
    assert movie.popularity == 42.0
    assert movie.is_published is False
    assert Movie.objects.filter(tmdb_id=949).count() == 1


def test_new_movies_get_unique_slugs(make_movie):
    first = make_movie("Dune", release_date=dt.date(1984, 12, 14))
    second = make_movie("Dune", release_date=dt.date(2021, 10, 22))
    third = make_movie("Dune", release_date=dt.date(2021, 10, 22), tmdb_id=438631)

    assert [first.slug, second.slug, third.slug] == ["dune", "dune-2021", "dune-438631"]


def test_bulk_flags_report_only_real_changes(make_movie):
    published = make_movie("One")
    draft = make_movie("Two", published=False)

    assert set_published(movie_ids=[published.pk, draft.pk], published=True) == 1
    assert set_featured(movie_ids=[published.pk], featured=True) == 1
    assert Movie.objects.published().featured().get() == published


def test_poster_url_uses_tmdb_sizes_or_generated_artwork(make_movie, settings):
    settings.TMDB_IMAGE_URL = "https://images.example/t/p"
    generated = make_movie("No Poster")
    tmdb = make_movie("Poster", poster_path="/abc.jpg", backdrop_path="/wide.jpg")

    assert generated.poster_url() == f"/artwork/{generated.slug}/poster.svg"
    assert tmdb.poster_url(width=300) == "https://images.example/t/p/w342/abc.jpg"
    assert tmdb.poster_url(width=2000) == "https://images.example/t/p/original/abc.jpg"
    assert tmdb.backdrop_url() == "https://images.example/t/p/w1280/wide.jpg"
