"""`manage.py import_tmdb` against a real HTTP server speaking TMDb's v3 JSON."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from werkzeug import Request, Response

from catalog import tmdb
from catalog.models import Credit, Movie, Person
from tests.http_server import HTTPServer

GENRES = {
    "genres": [
        {"id": 18, "name": "Drama"},
        {"id": 35, "name": "Comedy"},
        {"id": 53, "name": "Thriller"},
        {"id": 80, "name": "Crime"},
        {"id": 10749, "name": "Romance"},
    ]
}


def list_item(tmdb_id: int, title: str, genre_ids: list[int], **fields: Any) -> dict[str, Any]:
    """One entry of /movie/popular or /search/movie, as TMDb sends it."""
    return {
        "adult": False,
        "backdrop_path": f"/backdrop-{tmdb_id}.jpg",
        "genre_ids": genre_ids,
        "id": tmdb_id,
        "original_language": "en",
        "original_title": title,
        "overview": f"The story of {title}.",
        "popularity": 50.5,
        "poster_path": f"/poster-{tmdb_id}.jpg",
        "release_date": "1999-10-15",
        "title": title,
        "video": False,
        "vote_average": 8.4,
        "vote_count": 30000,
        **fields,
    }


POPULAR = {
    1: [
        list_item(550, "Fight Club", [18]),
        list_item(680, "Pulp Fiction", [53, 80], release_date="1994-09-10"),
    ],
    2: [
        list_item(13, "Forrest Gump", [35, 18, 10749], release_date="1994-06-23"),
        # Announced titles come with an empty release date.
        list_item(1_000_001, "Untitled Sequel", [], release_date="", poster_path=None),
    ],
}

DETAILS = {
    550: {
        "adult": False,
        "backdrop_path": "/hZkgoQYus5vegHoetLkCJzb17zJ.jpg",
        "budget": 63000000,
        "genres": [{"id": 18, "name": "Drama"}],
        "homepage": "http://www.foxmovies.com/movies/fight-club",
        "id": 550,
        "imdb_id": "tt0137523",
        "original_language": "en",
        "original_title": "Fight Club",
        "overview": "An office worker and a soap maker form an underground club.",
        "popularity": 61.4,
        "poster_path": "/pB8BM7pdSp6B6Ih7QZ4DrQ3PmJK.jpg",
        "release_date": "1999-10-15",
        "revenue": 100853753,
        "runtime": 139,
        "status": "Released",
        "tagline": "Mischief. Mayhem. Soap.",
        "title": "Fight Club",
        "video": False,
        "vote_average": 8.4,
        "vote_count": 26280,
    },
    680: {
        "adult": False,
        "backdrop_path": "/suaEOtk1N1sgg2MTM7oZd2cfVp3.jpg",
        "genres": [{"id": 53, "name": "Thriller"}, {"id": 80, "name": "Crime"}],
        "id": 680,
        "imdb_id": "tt0110912",
        "original_title": "Pulp Fiction",
        "overview": "Two hitmen, a boxer and a gangster's wife cross paths in Los Angeles.",
        "popularity": 70.1,
        "poster_path": "/d5iIlFn5s0ImszYzBPb8JPIfbXD.jpg",
        "release_date": "1994-09-10",
        "runtime": 154,
        "tagline": "Just because you are a character doesn't mean you have character.",
        "title": "Pulp Fiction",
        "vote_average": 8.5,
        "vote_count": 27000,
    },
}


def cast_member(person_id: int, name: str, character: str, order: int) -> dict[str, Any]:
    """One entry of a credits response's ``cast``, as TMDb sends it."""
    return {
        "adult": False,
        "gender": 2,
        "id": person_id,
        "known_for_department": "Acting",
        "name": name,
        "original_name": name,
        "popularity": 20.0,
        "profile_path": f"/profile-{person_id}.jpg",
        "cast_id": order + 4,
        "character": character,
        "credit_id": f"52fe4250c3a36847f80149{order:02d}",
        "order": order,
    }


def crew_member(person_id: int, name: str, job: str) -> dict[str, Any]:
    department = {"Director": "Directing", "Screenplay": "Writing"}.get(job, "Production")
    return {
        "adult": False,
        "id": person_id,
        "known_for_department": department,
        "name": name,
        "original_name": name,
        "profile_path": None,
        "credit_id": f"crew-{person_id}-{job}",
        "department": department,
        "job": job,
    }


CREDITS = {
    550: {
        "id": 550,
        # TMDb lists the cast in billing order; sent shuffled here to show "order" decides.
        "cast": [
            cast_member(1283, "Helena Bonham Carter", "Marla Singer", 2),
            cast_member(819, "Edward Norton", "The Narrator", 0),
            cast_member(287, "Brad Pitt", "Tyler Durden", 1),
            cast_member(7470, "Meat Loaf", "Robert 'Bob' Paulson", 3),
        ],
        "crew": [
            crew_member(7467, "David Fincher", "Director"),
            crew_member(7468, "Jim Uhls", "Screenplay"),
            crew_member(7474, "Ross Grayson Bell", "Producer"),
        ],
    },
    680: {
        "id": 680,
        "cast": [
            cast_member(8891, "John Travolta", "Vincent Vega", 0),
            cast_member(2231, "Samuel L. Jackson", "Jules Winnfield", 1),
            cast_member(139, "Uma Thurman", "Mia Wallace", 2),
            cast_member(62, "Bruce Willis", "Butch Coolidge", 3),
        ],
        "crew": [crew_member(138, "Quentin Tarantino", "Director")],
    },
}

NOT_FOUND = {
    "success": False,
    "status_code": 34,
    "status_message": "The resource you requested could not be found.",
}
INVALID_KEY = {
    "success": False,
    "status_code": 7,
    "status_message": "Invalid API key: You must be granted a valid key.",
}


@pytest.fixture(scope="module")
def running_server() -> Iterator[HTTPServer]:
    httpserver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    httpserver.start()
    yield httpserver
    httpserver.stop()


@pytest.fixture
def server(running_server: HTTPServer, settings) -> Iterator[HTTPServer]:
    running_server.clear()
    settings.TMDB_API_URL = running_server.url_for("/3")
    settings.TMDB_API_KEY = "test-api-key"
    settings.TMDB_READ_TOKEN = ""
    settings.OUTBOUND_BACKOFF_BASE = 0.001
    settings.OUTBOUND_BACKOFF_CAP = 0.01
    settings.OUTBOUND_CONNECT_TIMEOUT = 1.0
    yield running_server
    running_server.clear()


def as_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def popular_handler(pages: dict[int, list[dict[str, Any]]]) -> Callable[[Request], Response]:
    def handle(request: Request) -> Response:
        number = int(request.args.get("page", "1"))
        return as_json(
            {
                "page": number,
                "results": pages.get(number, []),
                "total_pages": len(pages),
                "total_results": sum(len(items) for items in pages.values()),
            }
        )

    return handle


def details_handler(request: Request) -> Response:
    tmdb_id = int(request.path.rsplit("/", 1)[-1])
    if tmdb_id not in DETAILS:
        return as_json(NOT_FOUND, status=404)
    body = dict(DETAILS[tmdb_id])
    if "credits" in request.args.get("append_to_response", "").split(","):
        body["credits"] = {k: v for k, v in credits_of(tmdb_id).items() if k != "id"}
    return as_json(body)


def credits_of(tmdb_id: int) -> dict[str, Any]:
    # A film TMDb has no credits for answers empty lists, as TMDb does.
    return CREDITS.get(tmdb_id, {"id": tmdb_id, "cast": [], "crew": []})


def credits_handler(request: Request) -> Response:
    return as_json(credits_of(int(request.path.split("/")[-2])))


def serve_catalog(server: HTTPServer, pages: dict[int, list[dict[str, Any]]] = POPULAR) -> None:
    server.expect_request("/3/genre/movie/list").respond_with_json(GENRES)
    server.expect_request("/3/movie/popular").respond_with_handler(popular_handler(pages))
    server.expect_request(re.compile(r"^/3/movie/\d+$")).respond_with_handler(details_handler)
    server.expect_request(re.compile(r"^/3/movie/\d+/credits$")).respond_with_handler(
        credits_handler
    )


def billing(movie: Movie) -> list[tuple[str, str, str]]:
    """The movie's credits as (role, name, character), in the order a page shows them."""
    return [
        (credit.role, credit.person.name, credit.character)
        for credit in movie.credits.select_related("person").billing_order()
    ]


def run(*args: str, stderr: io.StringIO | None = None) -> str:
    out = io.StringIO()
    call_command("import_tmdb", *args, stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


def command_error(*args: str) -> str:
    with pytest.raises(CommandError) as raised:
        run(*args)
    message = str(raised.value)
    assert "\n" not in message
    return message


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def received(server: HTTPServer, path: str) -> list[Request]:
    return [request for request, _ in server.log if request.path == path]


# --- Popular pages ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_import_creates_unpublished_movies_with_their_genres(server):
    serve_catalog(server)

    out = run("--pages", "2")

    assert "Imported 4 movies: 4 new, 0 updated" in out
    assert "unpublished" in out
    movies = {m.tmdb_id: m for m in Movie.objects.prefetch_related("genres")}
    assert set(movies) == {550, 680, 13, 1_000_001}
    assert not any(m.is_published for m in movies.values())
    assert {g.name for g in movies[13].genres.all()} == {"Comedy", "Drama", "Romance"}
    assert {g.name for g in movies[680].genres.all()} == {"Thriller", "Crime"}
    assert movies[550].release_date == dt.date(1999, 10, 15)
    assert movies[550].poster_path == "/poster-550.jpg"
    assert movies[1_000_001].release_date is None
    assert movies[1_000_001].poster_path == ""
    assert not Movie.objects.published().exists()


@pytest.mark.django_db
def test_second_pages_import_updates_without_duplicates(server):
    serve_catalog(server)
    run("--pages", "2")
    server.clear()
    refreshed = {
        1: [list_item(550, "Fight Club", [18, 53], popularity=99.0), *POPULAR[1][1:]],
        2: POPULAR[2],
    }
    serve_catalog(server, refreshed)

    out = run("--pages", "2")

    assert "Imported 4 movies: 0 new, 4 updated" in out
    assert Movie.objects.count() == 4
    fight_club = Movie.objects.get(tmdb_id=550)
    assert fight_club.popularity == 99.0
    assert {g.name for g in fight_club.genres.all()} == {"Drama", "Thriller"}


@pytest.mark.django_db
def test_import_stops_at_the_last_page_tmdb_has(server):
    serve_catalog(server)

    out = run("--pages", "5")

    assert "Imported 4 movies" in out
    assert [r.args["page"] for r in received(server, "/3/movie/popular")] == ["1", "2"]


@pytest.mark.django_db
def test_a_movie_listed_on_two_pages_is_counted_once(server):
    shifted = {1: POPULAR[1], 2: [POPULAR[1][1], *POPULAR[2]]}
    serve_catalog(server, shifted)

    out = run("--pages", "2")

    assert "Imported 4 movies: 4 new, 0 updated" in out


@pytest.mark.django_db
def test_publish_flag_publishes_new_movies(server):
    serve_catalog(server)

    run("--pages", "1", "--publish")

    assert set(Movie.objects.published().values_list("tmdb_id", flat=True)) == {550, 680}


@pytest.mark.django_db
def test_progress_bar_is_drawn_on_a_terminal(server):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    serve_catalog(server)
    terminal = Terminal()

    run("--pages", "2", stderr=terminal)

    assert "TMDb import" in terminal.getvalue()
    assert "2/2" in terminal.getvalue()


@pytest.mark.django_db
def test_pages_import_brings_each_movies_top_billed_cast_and_director(server):
    serve_catalog(server)

    run("--pages", "1")

    assert billing(Movie.objects.get(tmdb_id=680)) == [
        ("cast", "John Travolta", "Vincent Vega"),
        ("cast", "Samuel L. Jackson", "Jules Winnfield"),
        ("cast", "Uma Thurman", "Mia Wallace"),
        ("cast", "Bruce Willis", "Butch Coolidge"),
        ("director", "Quentin Tarantino", ""),
    ]
    assert len(received(server, "/3/movie/550/credits")) == 1


# --- Ids ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ids_import_brings_the_credits_in_the_same_request(server):
    serve_catalog(server)

    run("--ids", "550")

    assert billing(Movie.objects.get(tmdb_id=550)) == [
        ("cast", "Edward Norton", "The Narrator"),
        ("cast", "Brad Pitt", "Tyler Durden"),
        ("cast", "Helena Bonham Carter", "Marla Singer"),
        ("cast", "Meat Loaf", "Robert 'Bob' Paulson"),
        ("director", "David Fincher", ""),  # the writer and producer are not kept
    ]
    assert received(server, "/3/movie/550")[0].args["append_to_response"] == "credits"
    assert received(server, "/3/movie/550/credits") == []
    assert Person.objects.get(name="Brad Pitt").profile_path == "/profile-287.jpg"


@pytest.mark.django_db
def test_reimport_replaces_credits_and_knows_people_by_their_tmdb_id(server):
    serve_catalog(server)
    run("--ids", "550,680")
    brad_pitt = next(person for person in CREDITS[550]["cast"] if person["id"] == 287)
    brad_pitt["name"] = "Brad Pitt Jr."  # renamed on TMDb
    try:
        run("--ids", "550")
    finally:
        brad_pitt["name"] = "Brad Pitt"

    assert Person.objects.filter(tmdb_id=287).get().name == "Brad Pitt Jr."
    assert Person.objects.count() == 10  # 5 people of each film, no duplicates
    assert Credit.objects.filter(movie__tmdb_id=550).count() == 5


@pytest.mark.django_db
def test_ids_import_brings_details_genres_runtime_and_imdb_id(server):
    serve_catalog(server)

    out = run("--ids", "550,680")

    assert "Imported 2 movies: 2 new, 0 updated" in out
    fight_club = Movie.objects.get(tmdb_id=550)
    assert fight_club.imdb_id == "tt0137523"
    assert fight_club.runtime == 139
    assert fight_club.tagline == "Mischief. Mayhem. Soap."
    assert [g.name for g in fight_club.genres.all()] == ["Drama"]
    pulp_fiction = Movie.objects.get(tmdb_id=680)
    assert pulp_fiction.runtime == 154
    assert {(g.tmdb_id, g.name) for g in pulp_fiction.genres.all()} == {
        (53, "Thriller"),
        (80, "Crime"),
    }


@pytest.mark.django_db
def test_unknown_id_is_reported_and_the_others_are_imported(server):
    serve_catalog(server)

    out = run("--ids", "550,999,680")

    assert "Imported 2 movies: 2 new, 0 updated, 1 not found (id 999)" in out
    assert set(Movie.objects.values_list("tmdb_id", flat=True)) == {550, 680}


@pytest.mark.django_db
def test_editorial_decisions_survive_a_reimport(server):
    serve_catalog(server)
    run("--ids", "550")
    movie = Movie.objects.get(tmdb_id=550)
    movie.is_published = True
    movie.is_featured = True
    movie.slug = "fight-club-editors-cut"
    movie.save(update_fields=["is_published", "is_featured", "slug"])

    out = run("--ids", "550")

    assert "0 new, 1 updated" in out
    movie.refresh_from_db()
    assert (movie.is_published, movie.is_featured, movie.slug) == (
        True,
        True,
        "fight-club-editors-cut",
    )


# --- Authentication -------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_key_is_sent_as_the_api_key_query_parameter(server):
    serve_catalog(server)

    run("--ids", "550")

    request = received(server, "/3/movie/550")[0]
    assert request.args["api_key"] == "test-api-key"
    assert "Authorization" not in request.headers


@pytest.mark.django_db
def test_read_token_is_sent_as_a_bearer_header_and_no_key_in_the_url(server, settings):
    settings.TMDB_API_KEY = ""
    settings.TMDB_READ_TOKEN = "eyJhbGciOiJIUzI1NiJ9.read-token"
    serve_catalog(server)

    run("--ids", "550")

    request = received(server, "/3/movie/550")[0]
    assert request.headers["Authorization"] == "Bearer eyJhbGciOiJIUzI1NiJ9.read-token"
    assert "api_key" not in request.args


# --- Failures -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_429_with_retry_after_is_waited_out_then_the_import_succeeds(server):
    arrivals: list[float] = []
    lock = threading.Lock()
    popular = popular_handler(POPULAR)

    def limited_once(request: Request) -> Response:
        with lock:
            arrivals.append(time.monotonic())
            first = len(arrivals) == 1
        if first:
            return as_json(
                {"status_code": 25, "status_message": "Your request count is over the limit."},
                status=429,
                headers={"Retry-After": "1"},
            )
        return popular(request)

    server.expect_request("/3/genre/movie/list").respond_with_json(GENRES)
    server.expect_request("/3/movie/popular").respond_with_handler(limited_once)
    server.expect_request(re.compile(r"^/3/movie/\d+/credits$")).respond_with_handler(
        credits_handler
    )

    out = run("--pages", "1")

    assert "Imported 2 movies: 2 new" in out
    assert len(arrivals) == 2
    # Backoff alone is capped at 0.01 s here: the second try waited for Retry-After.
    assert arrivals[1] - arrivals[0] >= 0.95


@pytest.mark.django_db
def test_rejected_key_is_a_one_line_error(server):
    server.expect_request("/3/genre/movie/list").respond_with_json(INVALID_KEY, status=401)

    message = command_error("--pages", "1")

    assert message.startswith("TMDb rejected the API key (401)")
    assert "Invalid API key" in message
    assert len(received(server, "/3/genre/movie/list")) == 1  # a 401 is not retried
    assert not Movie.objects.exists()


@pytest.mark.django_db
def test_unreachable_tmdb_is_a_one_line_error(settings):
    url = f"http://127.0.0.1:{closed_port()}/3"
    settings.TMDB_API_URL = url
    settings.TMDB_API_KEY = "test-api-key"
    settings.OUTBOUND_BACKOFF_CAP = 0.01

    message = command_error("--ids", "550")

    assert message == f"Could not reach TMDb at {url}: Connection refused"


@pytest.mark.django_db
def test_tmdb_answering_5xx_is_a_one_line_error(server):
    server.expect_request("/3/movie/550").respond_with_data("upstream broke", status=502)

    message = command_error("--ids", "550")

    assert message == f"TMDb at {server.url_for('/3')} answered HTTP 502 after retries"
    assert len(received(server, "/3/movie/550")) == 3


@pytest.mark.django_db
def test_missing_key_is_a_one_line_error_and_nothing_is_sent(server, settings):
    settings.TMDB_API_KEY = ""
    serve_catalog(server)

    message = command_error("--pages", "1")

    assert message.startswith("TMDB_API_KEY or TMDB_READ_TOKEN must be set")
    assert server.log == []


@pytest.mark.django_db
def test_movies_saved_before_a_failure_are_reported(server):
    pages = {1: POPULAR[1], 2: POPULAR[2], 3: []}
    serve_catalog(server, pages)
    server.clear()
    server.expect_request("/3/genre/movie/list").respond_with_json(GENRES)
    served = popular_handler(pages)

    def second_page_breaks(request: Request) -> Response:
        if request.args.get("page") == "2":
            return Response("down", status=503)
        return served(request)

    server.expect_request("/3/movie/popular").respond_with_handler(second_page_breaks)
    server.expect_request(re.compile(r"^/3/movie/\d+/credits$")).respond_with_handler(
        credits_handler
    )
    out = io.StringIO()

    with pytest.raises(CommandError, match="answered HTTP 503"):
        call_command("import_tmdb", "--pages", "3", stdout=out, stderr=io.StringIO())

    assert "Imported 2 movies: 2 new, 0 updated before stopping." in out.getvalue()
    assert Movie.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ids", "abc"), "--ids must be comma-separated integers, got 'abc'"),
        (("--ids", "550,,680"), "--ids must be comma-separated integers, got '550,,680'"),
        (("--pages", "0"), "--pages must be a whole number from 1 to 500, got '0'"),
        (("--pages", "501"), "--pages must be a whole number from 1 to 500, got '501'"),
        (("--pages", "ten"), "--pages must be a whole number from 1 to 500, got 'ten'"),
        ((), "Give exactly one of --pages N or --ids 550,680"),
        (("--pages", "1", "--ids", "550"), "Give exactly one of --pages N or --ids 550,680"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, message):
    assert command_error(*args) == message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TMDB_API_KEY": "", "TMDB_READ_TOKEN": ""}, "TMDB_API_KEY or TMDB_READ_TOKEN must be"),
        ({"TMDB_API_KEY": "revoked", "TMDB_READ_TOKEN": ""}, "TMDb rejected the API key (401)"),
        ({"TMDB_API_KEY": "k", "TMDB_API_URL": "closed"}, "Could not reach TMDb at http://"),
    ],
)
def test_command_line_errors_print_one_line_and_exit_1(child_python, server, env, expected):
    server.expect_request("/3/genre/movie/list").respond_with_json(INVALID_KEY, status=401)
    if env.get("TMDB_API_URL") == "closed":
        env = {**env, "TMDB_API_URL": f"http://127.0.0.1:{closed_port()}/3"}

    done = child_python.run(
        "manage.py",
        "import_tmdb",
        "--pages",
        "1",
        env={
            **os.environ,
            "TMDB_API_URL": server.url_for("/3"),
            "OUTBOUND_BACKOFF_BASE": "0.01",
            **env,
        },
        timeout=60,
    )

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"CommandError: {expected}")
    assert "Traceback" not in done.stderr


# --- Client used by other apps ----------------------------------------------------------------


def test_open_tmdb_circuit_fails_fast_as_tmdb_unavailable(server, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    settings.OUTBOUND_MAX_ATTEMPTS = 1
    server.expect_request("/3/movie/550").respond_with_data("down", status=500)
    with pytest.raises(tmdb.TMDbUnavailable):
        tmdb.movie_details(550)

    with pytest.raises(tmdb.TMDbUnavailable, match="circuit open"):
        tmdb.movie_details(550)

    assert len(received(server, "/3/movie/550")) == 1
