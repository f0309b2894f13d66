"""The progress API: validation, authentication, ownership, and what each endpoint returns."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts.services import create_api_key
from catalog.models import Movie
from catalog.services import set_published
from progress import buffer, services
from progress.models import ViewingSession, WatchProgress
from tests.conftest import MovieFactory
from tests.progress.conftest import DAY_MS, INVALID_HEARTBEATS, HeartbeatFactory, now_ms

pytestmark = pytest.mark.django_db


def progress_url(movie_id: int) -> str:
    return f"/api/streaming/progress/{movie_id}"


def post_json(client: APIClient, url: str, body: Any, **extra: Any) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", **extra)


# --- Validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "field"), INVALID_HEARTBEATS)
def test_invalid_heartbeat_is_refused_naming_the_field_and_stores_nothing(
    viewer_client: APIClient,
    movie: Movie,
    heartbeat: HeartbeatFactory,
    viewer: AbstractBaseUser,
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = post_json(viewer_client, progress_url(movie.pk), heartbeat(**overrides))

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert field in body["fields"]
    assert body["detail"].startswith(field)
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk) is None


def test_numbers_beyond_float_range_in_raw_json_are_refused(
    viewer_client: APIClient, movie: Movie
) -> None:
    raw = '{"position": 1e999, "duration": 7200, "client_ts": ' + str(now_ms()) + "}"

    response = viewer_client.post(progress_url(movie.pk), raw, content_type="application/json")

    assert response.status_code == 400
    assert "position" in response.json()["fields"]


def test_position_a_few_seconds_past_the_duration_is_accepted_as_the_end(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory, viewer: AbstractBaseUser
) -> None:
    response = post_json(
        viewer_client, progress_url(movie.pk), heartbeat(position=7204.0, duration=7200.0)
    )

    assert response.status_code == 202
    stored = buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk)
    assert stored is not None
    assert stored.position == 7200.0
    assert stored.is_completed()


def test_body_over_two_kilobytes_is_refused_naming_the_body(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory, viewer: AbstractBaseUser
) -> None:
    body = heartbeat(padding="x" * 2100)

    response = post_json(viewer_client, progress_url(movie.pk), body)

    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert "body" in response.json()["detail"]
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk) is None


def test_malformed_json_is_a_400_not_a_500(viewer_client: APIClient, movie: Movie) -> None:
    response = viewer_client.post(progress_url(movie.pk), "{nope", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"


# --- Authentication and ownership ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_anonymous_requests_get_401_json(
    api_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory, method: str
) -> None:
    response = getattr(api_client, method)(progress_url(movie.pk), heartbeat(), format="json")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_anonymous_cannot_list_or_start_sessions(api_client: APIClient, movie: Movie) -> None:
    assert api_client.get("/api/progress").status_code == 401
    response = api_client.post("/api/streaming/sessions", {"movie_id": movie.pk}, format="json")
    assert response.status_code == 401


def test_api_key_authenticates_heartbeats(
    api_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory, viewer: AbstractBaseUser
) -> None:
    issued = create_api_key(user=viewer, name="set-top box")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")

    response = post_json(api_client, progress_url(movie.pk), heartbeat(position=900.0))

    assert response.status_code == 202
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 900.0


def test_session_cookie_writes_need_the_csrf_token(
    viewer: AbstractBaseUser, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(viewer)
    client.get("/api/progress")  # any page would do; sets nothing by itself
    token = "a" * 32
    client.cookies["csrftoken"] = token

    refused = post_json(client, progress_url(movie.pk), heartbeat())
    accepted = post_json(client, progress_url(movie.pk), heartbeat(), HTTP_X_CSRFTOKEN=token)

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 202


def test_page_hide_beacon_form_post_carries_the_csrf_token_in_the_body(
    viewer: AbstractBaseUser, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    """sendBeacon cannot set headers: the player posts a form with csrfmiddlewaretoken."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(viewer)
    token = "b" * 32
    client.cookies["csrftoken"] = token
    form = {**heartbeat(position=1234.5, event="hide"), "csrfmiddlewaretoken": token}

    response = client.post(progress_url(movie.pk), form)  # multipart/form data, no header

    assert response.status_code == 202
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 1234.5


def test_a_viewer_only_ever_sees_their_own_progress(
    movie: Movie,
    heartbeat: HeartbeatFactory,
    viewer_client: APIClient,
    other_viewer: AbstractBaseUser,
) -> None:
    post_json(viewer_client, progress_url(movie.pk), heartbeat(position=1800.0))
    other = APIClient()
    other.force_login(other_viewer)

    mine = viewer_client.get(progress_url(movie.pk)).json()
    theirs = other.get(progress_url(movie.pk)).json()

    assert mine["position"] == 1800.0
    assert theirs["position"] == 0.0
    assert theirs["updated_at"] is None
    assert other.get("/api/progress").json()["results"] == []


def test_a_heartbeat_cannot_touch_someone_elses_viewing_session(
    movie: Movie,
    heartbeat: HeartbeatFactory,
    viewer_client: APIClient,
    other_viewer: AbstractBaseUser,
) -> None:
    session = services.start_viewing_session(user_id=other_viewer.pk, movie_id=movie.pk, device="")
    before = session.last_seen_at

    post_json(viewer_client, progress_url(movie.pk), heartbeat(session_id=str(session.id)))
    services.flush_buffer()

    session.refresh_from_db()
    assert session.last_seen_at == before


# --- Movies -------------------------------------------------------------------------------


def test_unknown_movie_is_404_json(viewer_client: APIClient, heartbeat: HeartbeatFactory) -> None:
    for response in (
        post_json(viewer_client, progress_url(987654), heartbeat()),
        viewer_client.get(progress_url(987654)),
        viewer_client.delete(progress_url(987654)),
        post_json(viewer_client, "/api/streaming/sessions", {"movie_id": 987654}),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_unpublished_movie_is_404(
    viewer_client: APIClient, make_movie: MovieFactory, heartbeat: HeartbeatFactory
) -> None:
    hidden = make_movie("Draft", published=False)

    response = post_json(viewer_client, progress_url(hidden.pk), heartbeat())

    assert response.status_code == 404


def test_movie_unpublished_after_heartbeats_refuses_the_next_one(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    assert post_json(viewer_client, progress_url(movie.pk), heartbeat()).status_code == 202

    set_published(movie_ids=[movie.pk], published=False)

    assert post_json(viewer_client, progress_url(movie.pk), heartbeat()).status_code == 404


# --- What the endpoints return ---------------------------------------------------------------


def test_get_progress_reports_position_percent_and_resume_point(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    post_json(viewer_client, progress_url(movie.pk), heartbeat(position=2530.0, duration=7200.0))

    body = viewer_client.get(progress_url(movie.pk)).json()

    assert body["movie_id"] == movie.pk
    assert body["position"] == 2530.0
    assert body["duration"] == 7200.0
    assert body["percent"] == 35.1
    assert body["completed"] is False
    assert body["resume_position"] == 2530.0
    assert body["updated_at"]


def test_heartbeat_response_says_where_it_went(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    ts = now_ms()
    first = post_json(viewer_client, progress_url(movie.pk), heartbeat(client_ts=ts))
    repeat = post_json(viewer_client, progress_url(movie.pk), heartbeat(client_ts=ts))

    assert first.status_code == repeat.status_code == 202
    assert first.json() == {"result": "buffered"}
    assert repeat.json() == {"result": "stale"}


def test_start_session_returns_id_and_where_to_resume(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory, viewer: AbstractBaseUser
) -> None:
    post_json(viewer_client, progress_url(movie.pk), heartbeat(position=1500.0))

    response = post_json(
        viewer_client, "/api/streaming/sessions", {"movie_id": movie.pk, "device": "living room"}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["resume_position"] == 1500.0
    session = ViewingSession.objects.get(pk=body["session_id"])
    assert (session.user_id, session.movie_id, session.device) == (
        viewer.pk,
        movie.pk,
        "living room",
    )
    assert session.is_resume()


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "movie_id"), ({"movie_id": "x"}, "movie_id"), ({"movie_id": 1, "tv": 1}, "tv")],
)
def test_start_session_validates_its_body(
    viewer_client: APIClient, body: dict[str, Any], field: str
) -> None:
    response = post_json(viewer_client, "/api/streaming/sessions", body)

    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_heartbeats_keep_their_viewing_session_alive(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    started = post_json(viewer_client, "/api/streaming/sessions", {"movie_id": movie.pk}).json()
    session = ViewingSession.objects.get(pk=started["session_id"])
    before = session.last_seen_at

    post_json(viewer_client, progress_url(movie.pk), heartbeat(session_id=started["session_id"]))
    services.flush_buffer()

    session.refresh_from_db()
    assert session.last_seen_at > before


def test_delete_takes_the_movie_out_of_continue_watching(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    sent_before_removal = now_ms()
    post_json(viewer_client, progress_url(movie.pk), heartbeat(client_ts=sent_before_removal - 1))
    assert len(viewer_client.get("/api/progress").json()["results"]) == 1

    response = viewer_client.delete(progress_url(movie.pk))
    # A heartbeat the player sent before the removal arrives late: it must not bring it back.
    post_json(viewer_client, progress_url(movie.pk), heartbeat(client_ts=sent_before_removal))

    assert response.status_code == 204
    assert viewer_client.get("/api/progress").json()["results"] == []
    assert viewer_client.get(progress_url(movie.pk)).json()["resume_position"] == 0.0
    services.flush_buffer()
    assert viewer_client.get("/api/progress").json()["results"] == []


def test_delete_of_flushed_progress_stays_deleted_after_the_next_flush(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory, viewer: AbstractBaseUser
) -> None:
    post_json(viewer_client, progress_url(movie.pk), heartbeat(position=3000.0))
    services.flush_buffer()

    viewer_client.delete(progress_url(movie.pk))
    services.flush_buffer()

    row = WatchProgress.objects.get(user=viewer, movie=movie)
    assert row.position == 0.0
    assert viewer_client.get("/api/progress").json()["results"] == []


def test_watching_again_after_delete_brings_it_back(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    post_json(viewer_client, progress_url(movie.pk), heartbeat(position=600.0))
    viewer_client.delete(progress_url(movie.pk))

    post_json(
        viewer_client, progress_url(movie.pk), heartbeat(position=700.0, client_ts=now_ms() + 1000)
    )

    results = viewer_client.get("/api/progress").json()["results"]
    assert [item["position"] for item in results] == [700.0]


def test_continue_watching_lists_unfinished_movies_most_recent_first(
    viewer_client: APIClient, make_movie: MovieFactory, heartbeat: HeartbeatFactory
) -> None:
    first, second, finished, barely = (make_movie(title) for title in ("A", "B", "C", "D"))
    post_json(viewer_client, progress_url(first.pk), heartbeat(position=100.0))
    post_json(viewer_client, progress_url(finished.pk), heartbeat(position=7000.0))
    post_json(viewer_client, progress_url(barely.pk), heartbeat(position=12.0))
    services.flush_buffer()  # some rows from the database, one still only in Redis
    post_json(viewer_client, progress_url(second.pk), heartbeat(position=200.0))

    results = viewer_client.get("/api/progress").json()["results"]

    assert [item["movie"]["title"] for item in results] == ["B", "A"]
    item = results[0]
    assert item["movie"]["watch_url"] == second.get_watch_url()
    assert item["movie"]["url"] == second.get_absolute_url()
    assert item["position"] == 200.0
    assert item["percent"] == 2.8
    assert item["resume_position"] == 200.0


def test_continue_watching_takes_a_fixed_number_of_queries(
    viewer_client: APIClient,
    make_movie: MovieFactory,
    heartbeat: HeartbeatFactory,
    django_assert_num_queries: Any,
) -> None:
    movies = [make_movie(f"Film {n}") for n in range(9)]
    for film in movies[:5]:
        post_json(viewer_client, progress_url(film.pk), heartbeat())
    services.flush_buffer()
    post_json(viewer_client, progress_url(movies[5].pk), heartbeat())  # only in Redis

    # The user (signing in saved it, so it is read afresh for a few seconds; the session comes
    # from Redis), the stored rows, the movies only Redis knows.
    with django_assert_num_queries(3):
        assert len(viewer_client.get("/api/progress").json()["results"]) == 6

    for film in movies[6:]:
        post_json(viewer_client, progress_url(film.pk), heartbeat())
    with django_assert_num_queries(3):
        assert len(viewer_client.get("/api/progress").json()["results"]) == 9


def test_stale_heartbeat_metric_counts_refusals(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory
) -> None:
    def stale() -> float:
        return (
            REGISTRY.get_sample_value("streamsite_progress_heartbeats_total", {"result": "stale"})
            or 0.0
        )

    before = stale()
    ts = now_ms()
    post_json(viewer_client, progress_url(movie.pk), heartbeat(client_ts=ts))
    post_json(viewer_client, progress_url(movie.pk), heartbeat(client_ts=ts - 10_000))

    assert stale() == before + 1


def test_a_heartbeat_from_a_day_old_queue_is_accepted_and_loses_to_newer_ones(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory, viewer: AbstractBaseUser
) -> None:
    url = progress_url(movie.pk)
    days_old = now_ms() - 3 * DAY_MS  # an offline queue replayed days later

    first = post_json(viewer_client, url, heartbeat(position=300.0, client_ts=days_old))
    newer = post_json(viewer_client, url, heartbeat(position=900.0))
    late = post_json(viewer_client, url, heartbeat(position=100.0, client_ts=days_old + 1000))

    assert [r.status_code for r in (first, newer, late)] == [202, 202, 202]
    assert late.json() == {"result": "stale"}
    assert buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk).position == 900.0


def test_a_clock_far_ahead_counts_as_at_most_five_minutes_ahead(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory, viewer: AbstractBaseUser
) -> None:
    url = progress_url(movie.pk)
    before = now_ms()

    ahead = post_json(viewer_client, url, heartbeat(position=500.0, client_ts=before + DAY_MS))

    assert ahead.status_code == 202
    stored = buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk)
    assert stored.position == 500.0
    # Not a day ahead, where it would win over every other device's heartbeat until then.
    assert stored.client_ts <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)


def test_a_position_past_the_end_is_taken_as_the_end(
    viewer_client: APIClient, movie: Movie, heartbeat: HeartbeatFactory, viewer: AbstractBaseUser
) -> None:
    response = post_json(
        viewer_client, progress_url(movie.pk), heartbeat(position=9000.0, duration=7200.0)
    )

    assert response.status_code == 202
    stored = buffer.get_progress(user_id=viewer.pk, movie_id=movie.pk)
    assert (stored.position, stored.completed) == (7200.0, True)
