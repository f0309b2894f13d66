"""Viewer pages: home, browse, search, detail and the error pages, through the real stack."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from pytest_django.asserts import assertContains, assertNotContains

from streamsite import errors

pytestmark = pytest.mark.django_db


class TagCollector(HTMLParser):
    """Every start tag of a page with its attributes, to check markup rules across a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(response, name: str) -> list[dict[str, str | None]]:
    collector = TagCollector()
    collector.feed(response.content.decode())
    return [attrs for tag, attrs in collector.tags if tag == name]


def card_links(response) -> list[str]:
    return [attrs["href"] for attrs in tags(response, "a") if attrs.get("class") == "card"]


def fight_club(make_movie):
    return make_movie(
        "Fight Club",
        genres=("Drama", "Thriller"),
        release_date=dt.date(1999, 10, 15),
        runtime=139,
        vote_average=8.438,
        vote_count=26280,
        imdb_id="tt0137523",
        tagline="Mischief. Mayhem. Soap.",
        overview="An insomniac office worker and a soap maker start an underground club.",
        popularity=60.0,
        tmdb_id=550,
    )


# --- Home -----------------------------------------------------------------------------------


def test_home_shows_the_featured_hero_with_play_and_more_info(client, make_movie):
    movie = make_movie(
        "Heat",
        featured=True,
        genres=("Crime", "Drama"),
        release_date=dt.date(1995, 12, 15),
        runtime=170,
        vote_average=7.9,
        vote_count=7000,
        tagline="A Los Angeles crime saga.",
    )

    response = client.get("/")

    assert response.status_code == 200
    assertContains(response, '<h1 class="hero__title" id="hero-title">Heat</h1>', html=False)
    assertContains(response, "1995")
    assertContains(response, "2h 50m")
    assertContains(response, "7.9")
    assertContains(response, "Crime • Drama")
    assertContains(response, "A Los Angeles crime saga.")
    hrefs = [attrs["href"] for attrs in tags(response, "a")]
    assert movie.get_watch_url() in hrefs
    assert movie.get_absolute_url() in hrefs


def test_home_rows_show_popular_new_and_top_genres_with_see_all_links(client, make_movie):
    make_movie("Alien", genres=("Horror",), popularity=50.0, release_date=dt.date(1979, 5, 25))
    make_movie("Arrival", genres=("Drama",), popularity=40.0, release_date=dt.date(2016, 11, 11))
    make_movie("Draft", genres=("Horror",), published=False, popularity=99.0)

    response = client.get("/")

    for title in ("Popular now", "New releases", "Horror", "Drama"):
        assertContains(response, f">{title}</h2>")
    assertContains(response, 'href="/browse/?genre=horror"')
    assertContains(response, 'href="/browse/?genre=drama"')
    assertNotContains(response, "Draft")
    # Popular row first: the most popular movie is the first card on the page.
    assert card_links(response)[0] == "/movies/alien/"


def test_home_with_an_empty_catalog_explains_how_to_fill_it(client, db):
    response = client.get("/")

    assert response.status_code == 200
    assertContains(response, "No films yet")
    assertContains(response, "load_demo")


def test_home_query_count_does_not_grow_with_the_catalog(
    client, make_movie, django_assert_max_num_queries
):
    genres = ("Drama", "Crime", "Horror", "Comedy", "Action")
    for number in range(5):
        make_movie(f"Film {number}", genres=(genres[number],), featured=number == 0)
    client.get("/")  # warm-up: per-process lookups (middleware caches) are not per-page costs
    cache.clear()
    with CaptureQueriesContext(connection) as small:
        client.get("/")

    for number in range(5, 30):
        make_movie(f"Film {number}", genres=(genres[number % 5], genres[(number + 1) % 5]))
    cache.clear()
    with django_assert_max_num_queries(16), CaptureQueriesContext(connection) as large:
        response = client.get("/")

    assert len(large) == len(small)
    assert len(card_links(response)) > 30  # the larger catalog really is on the page


def test_every_image_has_alt_text_and_a_reserved_size(client, make_movie):
    make_movie("Heat", featured=True, genres=("Crime",))
    make_movie("Alien", genres=("Horror",))

    response = client.get("/")

    images = tags(response, "img")
    assert images
    for image in images:
        assert image.get("alt"), image
        assert image.get("width") and image.get("height"), image
    hero, *cards = images
    assert hero.get("loading") is None  # the hero is the first thing seen: never lazy
    assert cards and all(card.get("loading") == "lazy" for card in cards)


def test_header_has_skip_link_search_and_marks_the_current_page(client, db):
    home = client.get("/")
    browse = client.get("/browse/")

    assertContains(home, '<a class="skip-link" href="#main">Skip to content</a>', html=True)
    assertContains(home, '<main id="main" tabindex="-1">')
    assertContains(home, 'aria-current="page">Home</a>')
    assertNotContains(home, 'aria-current="page">Browse</a>')
    assertContains(browse, 'aria-current="page">Browse</a>')
    search_inputs = [attrs for attrs in tags(home, "input") if attrs.get("name") == "q"]
    assert search_inputs and search_inputs[0]["id"] == "header-search"
    assertContains(home, '<label class="visually-hidden" for="header-search">')
    # Nothing on the page is fetched from another site.
    for attrs in tags(home, "link") + tags(home, "script") + tags(home, "img"):
        assert not (attrs.get("href") or attrs.get("src") or "").startswith(("http:", "https:"))


# --- Browse ---------------------------------------------------------------------------------


def test_browse_filters_by_genre_and_year(client, make_movie):
    make_movie("Alien", genres=("Horror", "Science Fiction"), release_date=dt.date(1979, 5, 25))
    make_movie("Aliens", genres=("Science Fiction",), release_date=dt.date(1986, 7, 18))
    make_movie("Halloween", genres=("Horror",), release_date=dt.date(1978, 10, 25))

    by_genre = client.get("/browse/?genre=science-fiction")
    by_both = client.get("/browse/?genre=horror&year=1979")

    assert sorted(card_links(by_genre)) == ["/movies/alien/", "/movies/aliens/"]
    assertContains(by_genre, "Science Fiction</h1>")
    assert card_links(by_both) == ["/movies/alien/"]
    assertContains(by_both, "from 1979")
    assertContains(by_both, "1 film<")


def test_browse_sorts_by_title(client, make_movie):
    make_movie("Zodiac", popularity=90.0)
    make_movie("Amélie", popularity=10.0)

    response = client.get("/browse/?sort=title")

    assert card_links(response) == ["/movies/amelie/", "/movies/zodiac/"]


def test_browse_paginates_and_page_links_keep_the_filters(client, make_movie):
    for number in range(30):
        make_movie(f"Western {number:02d}", genres=("Western",), popularity=100 - number)
    make_movie("Not a western", genres=("Comedy",), popularity=500)

    first = client.get("/browse/?genre=western&sort=popular")
    second = client.get("/browse/?genre=western&sort=popular&page=2")

    assert len(card_links(first)) == 24
    assertContains(first, "Page 1 of 2")
    assertContains(first, 'href="?genre=western&amp;sort=popular&amp;page=2"')
    assertContains(first, "30 films")
    assert len(card_links(second)) == 6
    assertContains(second, "Page 2 of 2")
    assertContains(second, 'href="?genre=western&amp;sort=popular&amp;page=1"')
    assert not set(card_links(first)) & set(card_links(second))


def test_browse_with_a_non_numeric_year_is_400_and_shows_the_error(client, make_movie):
    make_movie("Alien")

    response = client.get("/browse/?year=abc")

    assert response.status_code == 400
    assertContains(response, "Enter a whole number.", status_code=400)
    assertContains(response, 'aria-invalid="true"', status_code=400)
    assertContains(response, 'role="alert"', status_code=400)
    assert card_links(response) == []


def test_browse_with_an_unknown_genre_is_400_naming_the_choice(client, db):
    response = client.get("/browse/?genre=no-such-genre")

    assert response.status_code == 400
    assertContains(response, "Select a valid choice", status_code=400)


def test_browse_without_matches_shows_an_empty_state(client, make_movie):
    make_movie("Alien", release_date=dt.date(1979, 5, 25))

    response = client.get("/browse/?year=2001")

    assert response.status_code == 200
    assertContains(response, "No films match these filters")
    assertContains(response, "Show all films")


def test_browse_query_count_does_not_grow_with_the_catalog(
    client, make_movie, django_assert_max_num_queries
):
    for number in range(5):
        make_movie(f"Film {number}", genres=("Drama", "Crime"))
    client.get("/browse/?genre=drama")  # warm-up, as on the home page
    cache.clear()
    with CaptureQueriesContext(connection) as small:
        client.get("/browse/?genre=drama")

    for number in range(5, 30):
        make_movie(f"Film {number}", genres=("Drama", "Crime"))
    cache.clear()
    with django_assert_max_num_queries(6), CaptureQueriesContext(connection) as large:
        response = client.get("/browse/?genre=drama")

    assert len(large) == len(small)
    assert len(card_links(response)) == 24


# --- Search ---------------------------------------------------------------------------------


def test_search_finds_fight_club_and_shows_the_count(client, make_movie):
    fight_club(make_movie)
    make_movie("Forrest Gump", overview="A kind man runs across America.")

    response = client.get("/search/?q=fight")

    assert response.status_code == 200
    assertContains(response, "1 result for “fight”")
    assert card_links(response) == ["/movies/fight-club/"]
    # The header search box keeps the query so it can be refined.
    assertContains(response, 'id="header-search" type="search" name="q" value="fight"')


def test_search_without_matches_suggests_what_to_try(client, make_movie):
    fight_club(make_movie)

    response = client.get("/search/?q=zzzzqqq")

    assertContains(response, "0 results for “zzzzqqq”")
    assertContains(response, "Nothing matched")
    assertContains(response, 'href="/browse/"')
    assert card_links(response) == []


def test_search_without_a_query_invites_a_search(client, db):
    response = client.get("/search/")

    assert response.status_code == 200
    assertContains(response, "Find a film")


def test_search_longer_than_200_characters_is_400_with_a_message(client, make_movie):
    fight_club(make_movie)

    response = client.get("/search/", {"q": "fight " * 40})

    assert response.status_code == 400
    assertContains(response, "That search is too long", status_code=400)
    assert card_links(response) == []


@pytest.mark.parametrize("query", ["a\x00", "\x00"])
def test_search_with_a_null_character_is_400_with_a_message(client, make_movie, query):
    fight_club(make_movie)

    response = client.get("/search/", {"q": query})

    assert response.status_code == 400
    assertContains(response, "cannot contain", status_code=400)
    assert card_links(response) == []


# --- Detail ---------------------------------------------------------------------------------


def test_detail_shows_everything_a_viewer_needs_to_decide(client, make_movie):
    movie = fight_club(make_movie)

    response = client.get("/movies/fight-club/")

    assert response.status_code == 200
    assertContains(response, '<h1 class="detail__title">Fight Club</h1>')
    for text in (
        "1999",
        "2h 19m",
        "8.4",
        "(26,280 votes)",
        "Mischief. Mayhem. Soap.",
        "An insomniac office worker",
    ):
        assertContains(response, text)
    hrefs = [attrs["href"] for attrs in tags(response, "a")]
    assert movie.get_watch_url() == "/watch/fight-club/"
    assert "/watch/fight-club/" in hrefs
    assert "/browse/?genre=drama" in hrefs
    assert "/browse/?genre=thriller" in hrefs
    assert "https://www.imdb.com/title/tt0137523/" in hrefs
    assertNotContains(response, "Original title")
    sources = {attrs["src"] for attrs in tags(response, "img")}
    assert sources == {movie.poster_url(), movie.backdrop_url()}


def test_detail_shows_the_original_title_when_it_differs(client, make_movie):
    make_movie("Spirited Away", original_title="千と千尋の神隠し")

    response = client.get("/movies/spirited-away/")

    assertContains(response, "Original title: <span>千と千尋の神隠し</span>")


def test_unpublished_movie_is_404_to_viewers(client, make_movie):
    make_movie("Secret Cut", published=False)

    response = client.get("/movies/secret-cut/")

    assert response.status_code == 404
    assertContains(response, "This page isn’t showing", status_code=404)


# --- Error pages ----------------------------------------------------------------------------


def test_unknown_page_is_a_styled_404_with_a_way_home_while_the_api_answers_json(client, db):
    page = client.get("/no/such/page/")
    api = client.get("/api/nope")

    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    assertContains(page, "/static/css/site.css", status_code=404)
    assertContains(page, '<a class="btn btn--play" href="/">Back to home</a>', status_code=404)
    assert api.status_code == 404
    assert api.json()["error"] == "not_found"


def explode(request):
    raise RuntimeError("the session store is down")


def test_500_page_renders_even_when_context_processors_fail(settings):
    # A context processor that fails like one would while the database or session store is down.
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {"context_processors": [f"{__name__}.explode"]},
        }
    ]

    response = errors.server_error(RequestFactory().get("/movies/anything/"))

    assert response.status_code == 500
    assertContains(response, "Something went wrong on our side", status_code=500)
    assertContains(response, 'href="/">Back to home</a>', status_code=500)
