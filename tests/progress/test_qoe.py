"""Playback-quality (QoE) reports: who may send them, what they may say, how they add up, and
the metrics they feed."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from catalog.models import Movie
from progress import qoe
from progress.models import PlaybackQuality, PlaybackRungTime, ViewingSession
from progress.services import playback_token
from tests.conftest import MovieFactory
from tests.progress.conftest import now_ms

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(viewer: AbstractBaseUser, movie: Movie) -> ViewingSession:
    return ViewingSession.objects.create(user=viewer, movie=movie)


def url(session: ViewingSession | uuid.UUID) -> str:
    session_id = session.pk if isinstance(session, ViewingSession) else session
    return f"/api/streaming/sessions/{session_id}/qoe"


def body(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "source": "self-hosted",
        "startup_ms": 850,
        "stalls": 1,
        "stalled_ms": 1200,
        "played_ms": {"720": 20000, "480": 5000},
        "switches_up": 1,
        "switches_down": 2,
        "bandwidth_kbps": 2400,
        "errors": [{"code": "fragLoadError", "fatal": False}],
        "client_ts": now_ms(),
    }
    report.update(overrides)
    return {name: value for name, value in report.items() if value is not ...}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_reports_of_a_session_add_up_per_source(viewer_client: APIClient, session):
    first = viewer_client.post(url(session), body(), format="json")
    second = viewer_client.post(
        url(session),
        body(startup_ms=99, played_ms={"480": 4000, "360": 1000}, bandwidth_kbps=900,
             errors=[{"code": "bufferStalledError", "fatal": False}]),
        format="json",
    )  # fmt: skip
    embed = viewer_client.post(
        url(session),
        body(source="vidking", stalls=0, stalled_ms=0, played_ms={}, switches_up=0,
             switches_down=0, bandwidth_kbps=None, errors=[{"code": "no_answer", "fatal": True}]),
        format="json",
    )  # fmt: skip

    assert (first.status_code, second.status_code, embed.status_code) == (202, 202, 202)
    assert first.json() == {"result": "recorded", "reports": 1}
    assert second.json() == {"result": "recorded", "reports": 2}
    ours = PlaybackQuality.objects.get(session=session, source="self-hosted")
    assert ours.startup_ms == 850  # the first start-up is the start-up
    assert (ours.stalls, ours.stalled_ms) == (2, 2400)
    assert (ours.switches_up, ours.switches_down) == (2, 4)
    assert ours.bandwidth_kbps == 900  # the newest estimate
    assert ours.played_ms == 30000
    rungs = dict(PlaybackRungTime.objects.filter(quality=ours).values_list("height", "played_ms"))
    assert rungs == {720: 20000, 480: 9000, 360: 1000}
    assert (ours.errors, ours.fatal_errors) == (2, 0)
    assert ours.error_codes == {"fragLoadError": 1, "bufferStalledError": 1}
    assert round(ours.stall_ratio(), 3) == round(2400 / 32400, 3)
    theirs = PlaybackQuality.objects.get(session=session, source="vidking")
    assert (theirs.reports, theirs.fatal_errors, theirs.played_ms) == (1, 1, 0)


def test_an_older_report_does_not_replace_the_newest_bandwidth(viewer_client, session):
    viewer_client.post(url(session), body(bandwidth_kbps=3000), format="json")
    late = body(bandwidth_kbps=100, client_ts=now_ms() - 60_000)  # an earlier one, late

    assert viewer_client.post(url(session), late, format="json").status_code == 202
    assert PlaybackQuality.objects.get(session=session).bandwidth_kbps == 3000


def test_another_viewers_session_is_not_found(
    viewer_client, other_viewer, movie, make_movie: MovieFactory
):
    theirs = ViewingSession.objects.create(user=other_viewer, movie=movie)

    assert viewer_client.post(url(theirs), body(), format="json").status_code == 404
    assert viewer_client.post(url(uuid.uuid4()), body(), format="json").status_code == 404
    # A playback token proves one viewer's playback of one film: not of another film.
    token = playback_token(user_id=other_viewer.pk, movie_id=movie.pk)
    anonymous = APIClient()
    mine = ViewingSession.objects.create(user_id=theirs.user_id, movie=make_movie("Other"))
    assert (
        anonymous.post(url(mine), body(), format="json", HTTP_X_PROGRESS_TOKEN=token).status_code
        == 404
    )
    assert not PlaybackQuality.objects.exists()


def test_the_playback_token_alone_authenticates_in_the_header_or_the_body(viewer, movie, session):
    client = APIClient(enforce_csrf_checks=True)  # no cookie at all
    token = playback_token(user_id=viewer.pk, movie_id=movie.pk)

    in_header = client.post(url(session), body(), format="json", HTTP_X_PROGRESS_TOKEN=token)
    # The page-hide beacon cannot send headers: the token rides in the JSON body.
    in_body = client.post(url(session), body(progress_token=token), format="json")

    assert (in_header.status_code, in_body.status_code) == (202, 202)
    assert PlaybackQuality.objects.get(session=session).reports == 2


def test_anonymous_reports_and_cookies_without_csrf_are_refused(viewer, session):
    anonymous = APIClient().post(url(session), body(), format="json")
    cookie_only = APIClient(enforce_csrf_checks=True)
    cookie_only.force_login(viewer)
    forged = cookie_only.post(url(session), body(), format="json")

    assert anonymous.status_code == 401
    assert forged.status_code == 403
    assert not PlaybackQuality.objects.exists()


INVALID = [
    ({"source": ...}, "source"),
    ({"source": "not a slug"}, "source"),
    ({"source": 7}, "source"),
    ({"startup_ms": -1}, "startup_ms"),
    ({"startup_ms": "850"}, "startup_ms"),
    ({"startup_ms": 1e300}, "startup_ms"),
    ({"stalls": 1.5}, "stalls"),
    ({"stalls": 2.0}, "stalls"),
    ({"client_ts": 1.0e12}, "client_ts"),
    ({"stalls": True}, "stalls"),
    ({"stalled_ms": None}, "stalled_ms"),
    ({"stalled_ms": 10**400}, "stalled_ms"),
    ({"played_ms": [1, 2]}, "played_ms"),
    ({"played_ms": {"720": -5}}, "played_ms"),
    ({"played_ms": {str(h): 1 for h in range(100, 117)}}, "played_ms"),
    ({"switches_down": -1}, "switches_down"),
    ({"bandwidth_kbps": "fast"}, "bandwidth_kbps"),
    ({"errors": {"code": "x"}}, "errors"),
    ({"errors": [{"code": "x"}]}, "errors"),
    ({"errors": [{"code": "", "fatal": True}]}, "errors"),
    ({"errors": [{"code": "x", "fatal": "yes"}]}, "errors"),
    ({"errors": [{"code": "x", "fatal": True}] * 33}, "errors"),
    ({"client_ts": ...}, "client_ts"),
    ({"client_ts": "now"}, "client_ts"),
    ({"client_ts": -1}, "client_ts"),
    ({"volume": 11}, "volume"),
    ({"progress_token": 5}, "progress_token"),
]


@pytest.mark.parametrize(("overrides", "field"), INVALID)
def test_invalid_reports_are_refused_naming_the_field(viewer_client, session, overrides, field):
    response = viewer_client.post(url(session), body(**overrides), format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert response.json()["detail"].startswith(f"{field}: ")
    assert not PlaybackQuality.objects.exists()


def test_time_at_a_rung_with_no_height_counts_as_height_0(viewer_client, session):
    played = {"720": 1000, "0": 200, "tall": 300}

    assert (
        viewer_client.post(url(session), body(played_ms=played), format="json").status_code == 202
    )
    quality = PlaybackQuality.objects.get(session=session)
    heights = dict(
        PlaybackRungTime.objects.filter(quality=quality).values_list("height", "played_ms")
    )
    assert heights == {720: 1000, 0: 500}


def test_non_finite_numbers_and_big_bodies_are_refused(viewer_client, session):
    nan = viewer_client.post(
        url(session),
        '{"source": "x", "stalled_ms": NaN, "client_ts": 1}',
        content_type="application/json",
    )
    huge = viewer_client.post(url(session), body(padding="x" * qoe.MAX_BODY_BYTES), format="json")

    assert nan.status_code == 400
    assert huge.status_code == 413


def test_reports_feed_the_metrics_with_known_labels_only(
    viewer_client, session, settings, django_capture_on_commit_callbacks
):
    settings.VIDEO_LADDER = [720, 480]
    before = {
        "startup": sample("streamsite_playback_startup_seconds_count", source="self-hosted"),
        "stalls": sample("streamsite_playback_stall_seconds_count", source="self-hosted"),
        "stalled": sample("streamsite_playback_stall_seconds_sum", source="self-hosted"),
        "720": sample("streamsite_playback_rung_seconds_total", height="720"),
        "other": sample("streamsite_playback_rung_seconds_total", height="other"),
        "error": sample(
            "streamsite_playback_errors_total", source="self-hosted", code="fragLoadError"
        ),
        "junk": sample("streamsite_playback_errors_total", source="other", code="other"),
    }

    # Counted once the report is committed.
    with django_capture_on_commit_callbacks(execute=True):
        viewer_client.post(
            url(session), body(stalls=3, stalled_ms=1500, played_ms={"720": 4000, "333": 500}),
            format="json",
        )  # fmt: skip
        viewer_client.post(
            url(session),
            body(source="made-up", played_ms={}, errors=[{"code": "madeUp", "fatal": True}]),
            format="json",
        )

    assert sample("streamsite_playback_startup_seconds_count", source="self-hosted") == (
        before["startup"] + 1
    )
    assert sample("streamsite_playback_stall_seconds_count", source="self-hosted") == (
        before["stalls"] + 3
    )
    assert sample("streamsite_playback_stall_seconds_sum", source="self-hosted") == (
        pytest.approx(before["stalled"] + 1.5)
    )
    assert sample("streamsite_playback_rung_seconds_total", height="720") == before["720"] + 4
    assert sample("streamsite_playback_rung_seconds_total", height="other") == pytest.approx(
        before["other"] + 0.5
    )
    assert sample(
        "streamsite_playback_errors_total", source="self-hosted", code="fragLoadError"
    ) == (before["error"] + 1)
    assert sample("streamsite_playback_errors_total", source="other", code="other") == (
        before["junk"] + 1
    )


def test_the_metrics_are_exposed_and_pass_promtool(
    viewer_client, session, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        viewer_client.post(url(session), body(), format="json")

    text = client.get("/metrics").content.decode()

    for name in (
        "streamsite_playback_startup_seconds_bucket",
        "streamsite_playback_stall_seconds_bucket",
        "streamsite_playback_rung_seconds_total",
        "streamsite_playback_errors_total",
        "streamsite_playback_failure_reports_total",
    ):
        assert name in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (scripts/ensure-services.sh installs it)"
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- Sessions under the id the page chose ---------------------------------------------------


def test_a_session_starts_under_the_id_the_page_chose_once(viewer_client, movie, other_viewer):
    chosen = uuid.uuid4()

    first = viewer_client.post(
        "/api/streaming/sessions", {"movie_id": movie.pk, "session_id": str(chosen)}, format="json"
    )
    again = viewer_client.post(
        "/api/streaming/sessions", {"movie_id": movie.pk, "session_id": str(chosen)}, format="json"
    )
    theirs = ViewingSession.objects.create(user=other_viewer, movie=movie)
    taken = viewer_client.post(
        "/api/streaming/sessions", {"movie_id": movie.pk, "session_id": str(theirs.pk)},
        format="json",
    )  # fmt: skip

    assert first.status_code == again.status_code == taken.status_code == 201
    assert first.json()["session_id"] == again.json()["session_id"] == str(chosen)
    assert taken.json()["session_id"] != str(theirs.pk)
    assert ViewingSession.objects.filter(user__username="viewer").count() == 2
