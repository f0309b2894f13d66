"""Cached catalog reads: API and anonymous pages, HTTP validators, invalidation on every kind of
edit, and what viewers get when Redis or the database is down."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.test import Client, RequestFactory

from catalog import services
from catalog.models import Genre, Movie
from catalog.services import GenreData, MovieData
from streamsite import cache, http_cache
from tests.redis_process import redis_process


def shared_cache_control() -> str:
    """Browsers keep a public answer CACHE_TTL_HTTP seconds, shared caches CDN_S_MAXAGE."""
    return f"public, max-age={cache.ttl('http')}, s-maxage={settings.CDN_S_MAXAGE}"


API_PATHS = [
    "/api/movies",
    "/api/movies?ordering=newest",
    "/api/genres",
    "/api/movies/search?q=alien",
]


@pytest.fixture
def alien(make_movie) -> Movie:
    return make_movie("Alien", genres=("Horror", "Science Fiction"), popularity=50.0)


def body(response) -> str:
    return response.content.decode()


# --- API -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_repeated_api_detail_is_a_hit_with_the_same_body_and_no_query(
    client, alien, django_assert_num_queries
):
    first = client.get(f"/api/movies/{alien.pk}")
    with django_assert_num_queries(0):
        second = client.get(f"/api/movies/{alien.pk}")

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first["X-Cache"], second["X-Cache"]) == ("MISS", "HIT")
    assert first.content == second.content and second.json()["title"] == "Alien"
    assert first["ETag"] == second["ETag"]
    assert second["Cache-Control"] == shared_cache_control()
    assert "degraded" not in second.json()


@pytest.mark.django_db
@pytest.mark.parametrize("path", API_PATHS)
def test_api_lists_search_and_genres_are_cached(client, alien, path):
    first, second = client.get(path), client.get(path)

    assert (first["X-Cache"], second["X-Cache"]) == ("MISS", "HIT")
    assert first.json() == second.json()


@pytest.mark.django_db
def test_each_cursor_page_is_its_own_entry(client, make_movie):
    for number in range(5):
        make_movie(f"Movie {number}", popularity=float(number))

    page_one = client.get("/api/movies?page_size=2").json()
    page_two = client.get(page_one["next"])
    again = client.get(page_one["next"])

    assert [m["title"] for m in page_two.json()["results"]] == ["Movie 2", "Movie 1"]
    assert (page_two["X-Cache"], again["X-Cache"]) == ("MISS", "HIT")


@pytest.mark.django_db
def test_bad_parameters_and_missing_movies_are_answered_but_never_stored(client, alien):
    for _ in range(2):
        bad = client.get("/api/movies?colour=red")
        missing = client.get("/api/movies/999999")
        assert bad.status_code == 400 and bad.json()["fields"] == {"colour": ["Unknown parameter."]}
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        assert "X-Cache" not in bad and "X-Cache" not in missing


@pytest.mark.django_db
def test_if_none_match_with_the_current_etag_gets_a_304(client, alien):
    etag = client.get(f"/api/movies/{alien.pk}")["ETag"]

    revalidated = client.get(f"/api/movies/{alien.pk}", HTTP_IF_NONE_MATCH=f'"other", W/{etag}')
    changed = client.get(f"/api/movies/{alien.pk}", HTTP_IF_NONE_MATCH='"something-else"')

    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated["ETag"] == etag and revalidated["X-Cache"] == "HIT"
    assert changed.status_code == 200


@pytest.mark.django_db
def test_a_signed_in_api_caller_gets_the_same_data_marked_private(client, alien, django_user_model):
    anonymous = client.get(f"/api/movies/{alien.pk}")
    django_user_model.objects.create_user("viewer", password="pw-123456-long")
    client.login(username="viewer", password="pw-123456-long")

    signed_in = client.get(f"/api/movies/{alien.pk}")

    assert signed_in.content == anonymous.content and signed_in["X-Cache"] == "HIT"
    assert signed_in["Cache-Control"].startswith("private")


# --- Pages ---------------------------------------------------------------------------------


def page_paths(movie: Movie) -> list[str]:
    return ["/", "/browse/", "/browse/?genre=horror&sort=newest", movie.get_absolute_url()]


@pytest.mark.django_db
def test_anonymous_pages_are_cached_and_vary_on_cookie(client, alien):
    for path in page_paths(alien):
        first, second = client.get(path), client.get(path)

        assert (first.status_code, second.status_code) == (200, 200), path
        assert (first["X-Cache"], second["X-Cache"]) == ("MISS", "HIT"), path
        assert first.content == second.content and "Alien" in body(second)
        assert second["Cache-Control"] == shared_cache_control()
        assert "Cookie" in second["Vary"]
        assert "degraded-banner" not in body(second).replace("<!--degraded-banner-->", "")


@pytest.mark.django_db
def test_a_signed_in_viewer_never_reads_or_fills_a_shared_page(client, alien, django_user_model):
    django_user_model.objects.create_user("rosalind", password="pw-123456-long")
    signed_in = Client()
    signed_in.login(username="rosalind", password="pw-123456-long")

    own = signed_in.get("/")
    anonymous = client.get("/")
    own_again = signed_in.get("/")

    assert "rosalind" in body(own) and "rosalind" in body(own_again)
    assert "X-Cache" not in own and "X-Cache" not in own_again
    assert own["Cache-Control"] == "private, no-cache"
    assert anonymous["X-Cache"] == "MISS"  # the signed-in page was not stored for others
    assert "rosalind" not in body(anonymous) and "csrfmiddlewaretoken" not in body(anonymous)


@pytest.mark.django_db
def test_unknown_query_parameters_are_served_but_not_stored(client, alien):
    for _ in range(2):
        response = client.get("/?utm_source=newsletter")
        assert response.status_code == 200 and "X-Cache" not in response


def test_a_page_that_generated_a_csrf_token_is_never_shared(settings):
    template = engines["django"].from_string("<form>{% csrf_token %}</form>")

    @http_cache.page("catalog", "test-csrf-form")
    def form_page(request: HttpRequest) -> HttpResponse:
        return HttpResponse(template.render({}, request))

    first = form_page(RequestFactory().get("/form"))
    second = form_page(RequestFactory().get("/form"))

    assert "csrfmiddlewaretoken" in body(first) and "csrfmiddlewaretoken" in body(second)
    assert "X-Cache" not in first and "X-Cache" not in second


@pytest.mark.django_db
def test_a_page_revalidates_with_its_etag(client, alien):
    etag = client.get("/")["ETag"]

    assert client.get("/", HTTP_IF_NONE_MATCH=etag).status_code == 304


# --- Invalidation --------------------------------------------------------------------------


def api_titles(client: Client) -> list[str]:
    return [movie["title"] for movie in client.get("/api/movies").json()["results"]]


@pytest.mark.django_db(transaction=True)
def test_every_kind_of_edit_is_visible_on_the_next_read(client, make_movie):
    """Shell saves, service calls, imports, genre edits and deletes each invalidate at commit."""
    movie = make_movie("Alien", genres=("Horror",), popularity=50.0)
    assert api_titles(client) == ["Alien"] and client.get("/api/movies")["X-Cache"] == "HIT"

    movie.title = "Alien (Director's Cut)"
    movie.save(update_fields=["title", "updated_at"])
    assert api_titles(client) == ["Alien (Director's Cut)"]

    services.upsert_movie(data=MovieData(tmdb_id=1, title="Aliens", popularity=60.0), publish=True)
    assert api_titles(client) == ["Aliens", "Alien (Director's Cut)"]

    services.set_published(movie_ids=[movie.pk], published=False)
    assert api_titles(client) == ["Aliens"]
    assert client.get(movie.get_absolute_url()).status_code == 404

    genres_before = client.get("/api/genres").json()["results"]
    Genre.objects.filter(slug="horror").get().delete()
    assert client.get("/api/genres").json()["results"] != genres_before

    aliens = Movie.objects.get(tmdb_id=1)
    aliens.genres.add(services.upsert_genres(genres=[GenreData(name="Action")])["Action"])
    assert [g["name"] for g in client.get(f"/api/movies/{aliens.pk}").json()["genres"]] == [
        "Action"
    ]

    aliens.delete()
    assert api_titles(client) == []


@pytest.mark.django_db(transaction=True)
def test_an_edit_in_the_admin_reaches_pages_and_api_at_once(client, admin_client, make_movie):
    movie = make_movie("Teh Matrix", genres=("Action",), popularity=80.0)
    assert "Teh Matrix" in body(client.get("/")) and client.get("/")["X-Cache"] == "HIT"
    client.get(movie.get_absolute_url())

    response = admin_client.post(
        "/admin/catalog/movie/",
        {"action": "feature", "_selected_action": [movie.pk]},
    )
    assert response.status_code == 302
    movie.title = "The Matrix"
    movie.save(update_fields=["title", "updated_at"])

    home = client.get("/")
    assert home["X-Cache"] == "MISS" and "The Matrix" in body(home)
    detail = client.get(movie.get_absolute_url())
    assert detail["X-Cache"] == "MISS" and "The Matrix" in body(detail)
    assert client.get(f"/api/movies/{movie.pk}").json()["is_featured"] is True


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_edit_invalidates_nothing(client, make_movie):
    make_movie("Alien")
    client.get("/api/movies")
    version = cache.version("catalog")

    with pytest.raises(RuntimeError), transaction.atomic():
        Movie.objects.update_or_create(tmdb_id=2, defaults={"title": "Ghost", "slug": "ghost"})
        raise RuntimeError("import aborted")

    assert cache.version("catalog") == version
    assert client.get("/api/movies")["X-Cache"] == "HIT"


# --- Degradation ---------------------------------------------------------------------------


@pytest.fixture
def private_redis(settings):
    """A Redis of the test's own, so stopping it disturbs nobody else."""
    with redis_process() as server:
        settings.CACHES = server.cache_settings()
        yield server


@pytest.mark.django_db
def test_with_redis_stopped_pages_and_api_answer_from_the_database(client, alien, private_redis):
    paths = [*page_paths(alien), f"/api/movies/{alien.pk}", *API_PATHS]
    assert all(client.get(path)["X-Cache"] == "MISS" for path in paths)
    assert all(client.get(path)["X-Cache"] == "HIT" for path in paths)

    private_redis.stop()

    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["X-Cache"] == "MISS", path
        assert "Alien" in body(response) or path == "/api/genres"


def test_with_the_database_unreachable_a_stale_copy_is_served_and_marked(
    client, make_movie, database_unreachable
):
    alien = make_movie("Alien", genres=("Horror",), popularity=50.0)
    api_path = f"/api/movies/{alien.pk}"
    paths = ["/", "/browse/", alien.get_absolute_url(), api_path, "/api/movies"]
    fresh = {path: client.get(path) for path in paths}
    assert {response["X-Cache"] for response in fresh.values()} == {"MISS"}
    cache.bump("catalog")  # an edit landed just before the database went away

    database_unreachable()
    with pytest.raises(Exception, match="connection|connect"):
        Movie.objects.count()

    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["X-Cache"] == "STALE", path
        assert response["Cache-Control"] == "public, no-cache"
        assert response["ETag"] != fresh[path]["ETag"]
    api = client.get(api_path).json()
    assert api["degraded"] is True and api["title"] == "Alien"
    assert client.get("/api/movies").json()["degraded"] is True
    home = body(client.get("/"))
    assert 'class="degraded-banner"' in home and "Alien" in home
    assert json.loads(fresh[api_path].content)["title"] == "Alien"
