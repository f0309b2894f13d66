"""Heartbeats authenticated by the watch page's playback token: what it allows, what it does not,
and that the answers match the cookie path's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from catalog.models import Movie
from catalog.services import set_published
from progress import buffer, tokens
from progress.services import playback_token
from tests.conftest import MovieFactory
from tests.progress.conftest import INVALID_HEARTBEATS, HeartbeatFactory

pytestmark = pytest.mark.django_db


def progress_url(movie_id: int) -> str:
    return f"/api/streaming/progress/{movie_id}"


def post_with_token(token: str, movie_id: int, body: Any, client: Client | None = None) -> Any:
    """As the player's fetch, minus the cookie: a client with no session at all."""
    return (client or Client()).post(
        progress_url(movie_id),
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_PROGRESS_TOKEN=token,
    )


@pytest.fixture
def token(viewer: AbstractBaseUser, movie: Movie) -> str:
    return playback_token(user_id=viewer.pk, movie_id=movie.pk)


def test_token_alone_records_the_heartbeat_for_its_viewer(
    token: str, viewer: AbstractBaseUser, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    response = post_with_token(token, movie.pk, heartbeat(position=1234.0))

    assert response.status_code == 202
    assert response.json() == {"result": "buffered"}
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 1234.0


def test_token_for_another_movie_authenticates_nothing(
    token: str, make_movie: MovieFactory, viewer: AbstractBaseUser, heartbeat: HeartbeatFactory
) -> None:
    other = make_movie("Another Film")

    response = post_with_token(token, other.pk, heartbeat())

    assert response.status_code == 401
    assert buffer.get_progress(user_id=viewer.pk, movie_id=other.pk) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: t.replace(t.split(":")[0], str(int(t.split(":")[0]) + 1), 1),  # other user
        lambda t: "garbage",
    ],
    ids=["signature", "user", "garbage"],
)
def test_forged_token_authenticates_nothing(
    token: str, movie: Movie, heartbeat: HeartbeatFactory, mangle: Any
) -> None:
    response = post_with_token(mangle(token), movie.pk, heartbeat())

    assert response.status_code == 401


def test_expired_token_authenticates_nothing(
    token: str, movie: Movie, heartbeat: HeartbeatFactory, settings: Any
) -> None:
    assert post_with_token(token, movie.pk, heartbeat()).status_code == 202

    settings.PROGRESS_TOKEN_MAX_AGE = -1
    tokens._checked.clear()  # what a process remembers also expires; here, at once

    assert post_with_token(token, movie.pk, heartbeat()).status_code == 401


def test_with_a_bad_token_the_session_cookie_still_authenticates(
    viewer: AbstractBaseUser, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    """What the player sends once its token has expired: cookie, CSRF token and the old token."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(viewer)
    client.cookies["csrftoken"] = "c" * 32

    response = client.post(
        progress_url(movie.pk),
        data=json.dumps(heartbeat(position=900.0)),
        content_type="application/json",
        HTTP_X_CSRFTOKEN="c" * 32,
        HTTP_X_PROGRESS_TOKEN="expired-or-forged",
    )

    assert response.status_code == 202
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 900.0


def test_page_hide_beacon_carries_the_token_as_a_form_field(
    token: str, viewer: AbstractBaseUser, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    form = {**heartbeat(position=4321.5, event="hide"), "progress_token": token}

    response = Client().post(progress_url(movie.pk), form)  # urlencoded: what sendBeacon sends

    assert response.status_code == 202
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 4321.5


def test_token_cannot_read_or_delete_progress(token: str, movie: Movie) -> None:
    for method in ("get", "delete"):
        response = getattr(Client(), method)(progress_url(movie.pk), HTTP_X_PROGRESS_TOKEN=token)
        assert response.status_code == 401


# --- The same answers as the cookie path ---------------------------------------------------


@pytest.mark.parametrize(("overrides", "field"), INVALID_HEARTBEATS)
def test_invalid_heartbeat_gets_the_same_400_with_a_token_as_with_a_cookie(
    token: str,
    viewer_client: APIClient,
    viewer: AbstractBaseUser,
    movie: Movie,
    heartbeat: HeartbeatFactory,
    overrides: dict[str, Any],
    field: str,
) -> None:
    body = heartbeat(**overrides)

    with_token = post_with_token(token, movie.pk, body)
    with_cookie = viewer_client.post(
        progress_url(movie.pk), data=json.dumps(body), content_type="application/json"
    )

    assert with_token.status_code == with_cookie.status_code == 400
    assert with_token.json() == with_cookie.json()
    assert field in with_token.json()["fields"]
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk) is None


# Bodies and headers the cookie path and the token path once answered differently.
REFUSED_ALIKE = {
    # NaN is no JSON: a parse error, not a field error.
    "raw NaN": ("application/json", '{"position": NaN, "duration": 7200, "client_ts": 1}', {}),
    "empty body": ("application/json", "", {}),
    "unsupported type": ("text/plain", "position=600", {}),
    "html only": ("application/json", None, {"HTTP_ACCEPT": "text/html"}),
}


@pytest.mark.parametrize(
    ("content_type", "raw", "headers"), REFUSED_ALIKE.values(), ids=list(REFUSED_ALIKE)
)
def test_a_refused_heartbeat_gets_the_same_answer_with_a_token_as_with_a_cookie(
    token: str,
    viewer_client: APIClient,
    viewer: AbstractBaseUser,
    movie: Movie,
    heartbeat: HeartbeatFactory,
    content_type: str,
    raw: str | None,
    headers: dict[str, str],
) -> None:
    body = json.dumps(heartbeat()) if raw is None else raw

    with_token = Client().post(
        progress_url(movie.pk), body, content_type, HTTP_X_PROGRESS_TOKEN=token, **headers
    )
    with_cookie = viewer_client.post(
        progress_url(movie.pk), body, content_type=content_type, **headers
    )

    assert with_token.status_code == with_cookie.status_code
    assert 400 <= with_token.status_code < 500
    assert with_token.json() == with_cookie.json()
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk) is None


def test_a_raw_nan_is_a_parse_error_and_html_only_clients_get_a_406(
    token: str, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    nan = Client().post(
        progress_url(movie.pk), REFUSED_ALIKE["raw NaN"][1], "application/json",
        HTTP_X_PROGRESS_TOKEN=token,
    )  # fmt: skip
    html = Client().post(
        progress_url(movie.pk), json.dumps(heartbeat()), "application/json",
        HTTP_X_PROGRESS_TOKEN=token, HTTP_ACCEPT="text/html",
    )  # fmt: skip

    assert (nan.status_code, nan.json()["error"]) == (400, "parse_error")
    assert (html.status_code, html.json()["error"]) == (406, "not_acceptable")


def test_malformed_json_with_a_token_is_a_400_parse_error(token: str, movie: Movie) -> None:
    response = Client().post(
        progress_url(movie.pk), "{nope", "application/json", HTTP_X_PROGRESS_TOKEN=token
    )

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"


def test_oversized_body_with_a_token_is_refused(
    token: str, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    response = post_with_token(token, movie.pk, heartbeat(padding="x" * 2100))

    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


def test_unpublished_movie_refuses_token_heartbeats_at_once(
    token: str, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    assert post_with_token(token, movie.pk, heartbeat()).status_code == 202

    set_published(movie_ids=[movie.pk], published=False)
    response = post_with_token(token, movie.pk, heartbeat())

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# --- Where the token comes from ----------------------------------------------------------------


def test_watch_page_gives_signed_in_viewers_a_token_for_that_movie(
    viewer: AbstractBaseUser, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    client = Client()
    client.force_login(viewer)
    page = client.get(movie.get_watch_url()).content.decode()
    token = page.split('data-progress-token="', 1)[1].split('"', 1)[0]

    assert post_with_token(token, movie.pk, heartbeat()).status_code == 202
    assert "data-progress-token" not in Client().get(movie.get_watch_url()).content.decode()


def test_token_heartbeats_are_rate_limited_per_viewer_without_reading_the_session(
    token: str,
    viewer: AbstractBaseUser,
    other_viewer: AbstractBaseUser,
    movie: Movie,
    heartbeat: HeartbeatFactory,
    settings: Any,
) -> None:
    settings.RATELIMITS = {**settings.RATELIMITS, "progress": "2/minute"}
    browser = Client()
    browser.force_login(viewer)  # the player's page sends its cookie along with the token

    with CaptureQueriesContext(connection) as queries:
        statuses = [
            post_with_token(token, movie.pk, heartbeat(), browser).status_code for _ in range(3)
        ]
    # Read now: the next request through the test client empties the query log.
    auth_reads = [q for q in queries if "django_session" in q["sql"] or "auth_user" in q["sql"]]
    other = playback_token(user_id=other_viewer.pk, movie_id=movie.pk)

    assert statuses == [202, 202, 429]
    assert post_with_token(other, movie.pk, heartbeat()).status_code == 202
    assert auth_reads == []


def test_every_wrong_field_is_named_the_first_in_the_detail(token: str, movie: Movie) -> None:
    body = {"duration": 7200, "position": -1, "volume": 11}  # and no client_ts

    response = post_with_token(token, movie.pk, body)

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"volume", "position", "client_ts"}
    assert response.json()["detail"].startswith("volume: Unknown field.")
