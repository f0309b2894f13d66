"""Errors: JSON on every /api/ route and designed pages elsewhere, whatever DEBUG says."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from tests.child_python import ChildPython
from tests.redis_process import free_port

SECRET_PASSWORD = "hunter2-not-for-your-eyes"  # noqa: S105 - what must never be shown


def fetch(url: str, **headers: str) -> tuple[int, str, str]:
    """Status, Content-Type and body, error statuses included."""
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


@contextlib.contextmanager
def development_server(child_python: ChildPython, tmp_path: Path, **env: str) -> Iterator[str]:
    """`manage.py runserver` as `make run` starts it: development settings, nothing else set."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER", "DEBUG"}
        and not key.startswith(("STREAMSITE_", "DJANGO_"))
    }
    environment.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
        LOG_LEVEL="ERROR",
        **env,
    )
    port = free_port()
    server = child_python.start(
        "manage.py",
        "runserver",
        f"127.0.0.1:{port}",
        "--noreload",
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{base}/api/health/live", timeout=1)  # noqa: S310
                break
            server.poll()
            assert server.returncode is None, "runserver exited"
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_demo_server_shows_the_designed_404_page_and_json_errors(child_python, tmp_path):
    with development_server(child_python, tmp_path) as base:
        page = fetch(f"{base}/no/such/page/")
        api = fetch(f"{base}/api/movies/abc")
        stylesheet = fetch(f"{base}/static/css/site.css")

    status, content_type, body = page
    assert (status, content_type.split(";")[0]) == (404, "text/html")
    assert "This page isn’t showing" in body
    assert "URLconf" not in body and "DEBUG = True" not in body  # no debug page
    assert api[:2] == (404, "application/json")
    assert json.loads(api[2])["error"] == "not_found"
    assert stylesheet[0] == 200  # the designed page keeps its styles without DEBUG


def test_with_debug_on_api_errors_stay_json_and_debug_pages_hide_connection_urls(
    child_python, tmp_path
):
    # The database has no tables, so every page and list fails; Redis is nowhere.
    redis_url = f"redis://:{SECRET_PASSWORD}@127.0.0.1:{free_port()}/0"
    with development_server(child_python, tmp_path, DEBUG="true", REDIS_URL=redis_url) as base:
        missing = fetch(f"{base}/api/movies/abc")
        failing = fetch(f"{base}/api/movies")
        page = fetch(f"{base}/")

    assert missing[:2] == (404, "application/json")
    assert failing[0] >= 500 and failing[1] == "application/json"
    assert json.loads(failing[2])["error"] in {"server_error", "unavailable"}
    status, _, body = page
    assert status >= 500 and "Traceback" in body  # the developer asked for the debug page...
    assert SECRET_PASSWORD not in body  # ...which still hides what connects to our services


@pytest.mark.urls("tests.streamsite.error_urls")
def test_an_uncaught_error_in_an_api_view_is_json_even_with_debug_on(client, settings, db):
    settings.DEBUG = True
    client.raise_request_exception = False

    response = client.get("/api/broken")

    assert response.status_code == 500
    assert response.json()["error"] == "server_error"


# --- Refused before any view, in production (DEBUG off) -------------------------------------


@pytest.mark.django_db
def test_a_disallowed_host_on_the_api_is_a_json_400(client):
    response = client.get("/api/movies", HTTP_HOST="attacker.example")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid"


@pytest.mark.django_db
def test_a_csrf_failure_on_the_api_is_a_json_403(django_user_model):
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("viewer"))

    for path in ("/api/health", "/api/streaming/sessions"):
        response = client.post(path, {"movie_id": 1})

        assert response.status_code == 403, path
        assert response["Content-Type"] == "application/json", path
        assert response.json()["error"] in {"forbidden", "permission_denied"}, path


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=-"],
)
def test_a_multipart_body_the_parser_refuses_is_a_json_400(client, django_user_model, content_type):
    client.force_login(django_user_model.objects.create_user("viewer"))

    response = client.post(
        "/api/streaming/progress/1", data=b"--x\r\nnot a part", content_type=content_type
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] in {"invalid", "parse_error"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/health", "/api/health/live"])
def test_health_endpoints_answer_head_and_options(client, path):
    head = client.head(path)
    options = client.options(path)
    post = client.post(path)

    assert head.status_code == 200 and head.content == b""
    assert options.status_code == 200
    assert set(options["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert post.status_code == 405
    assert post.json()["error"] == "method_not_allowed"
    assert set(post["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "delete", "options"])
def test_an_unknown_api_path_is_a_json_404_whatever_the_method_or_credentials(client, method):
    for path in ("/api/no-such-endpoint", "/api/", "/api/movies/"):
        response = getattr(client, method)(path, HTTP_AUTHORIZATION="Api-Key made-up")

        assert response.status_code == 404, (method, path)
        assert response.json() == {"error": "not_found", "detail": "Not found."}
