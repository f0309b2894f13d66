"""SERVICE_ROLE: each process of a pool serves its part of the site and links to every part."""

from __future__ import annotations

import os
import types

import pytest
from django.test import Client
from django.urls import Resolver404, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern

from streamsite import roles, urls

PATHS = {
    "/": "web",
    "/browse/": "web",
    "/movies/heat/": "web",
    "/watch/heat/": "web",
    "/accounts/login/": "web",
    "/hls/sig/1700000000/7/master.m3u8": "web",
    "/api/movies": "api",
    "/api/movies/7": "api",
    "/api/genres": "api",
    "/api/progress": "api",  # the "continue watching" list reads; it is no heartbeat
    "/api/streaming/sources/7": "api",
    "/api/docs": "api",
    "/api/schema": "api",
    "/api/streaming/progress/7": "progress",
    "/api/streaming/sessions": "progress",
    "/admin/": "admin",
    "/admin/login/": "admin",
    "/admin/catalog/movie/": "admin",
}
EVERY_ROLE_PATHS = ("/api/health", "/api/health/live", "/metrics")


def role_resolver(role: str) -> URLResolver:
    return URLResolver(RegexPattern(r"^/"), roles.mount(get_resolver().url_patterns, role))


def mounts(role: str, path: str) -> bool:
    """Whether a process of ``role`` routes ``path`` to its view (not to the API's 404)."""
    try:
        match = role_resolver(role).resolve(path)
    except Resolver404:
        return False
    return match.url_name != "api-unknown"


def role_urlconf(role: str) -> types.ModuleType:
    """A ROOT_URLCONF as streamsite.urls builds it for a process started with SERVICE_ROLE."""
    module = types.ModuleType(f"streamsite.urls[{role}]")
    module.urlpatterns = roles.mount(urls.urlpatterns, role)
    module.handler404, module.handler500 = urls.handler404, urls.handler500
    return module


def test_the_suite_runs_with_every_route_mounted(settings):
    assert settings.SERVICE_ROLE == "all"
    for path in [*PATHS, *EVERY_ROLE_PATHS]:
        assert mounts("all", path), path


@pytest.mark.parametrize("role", ["web", "api", "progress", "admin"])
def test_a_role_mounts_its_own_routes_and_no_others(role):
    for path, owner in PATHS.items():
        assert mounts(role, path) == (owner == role), (role, path)


@pytest.mark.parametrize("role", ["web", "api", "progress", "admin"])
def test_health_checks_and_metrics_are_mounted_on_every_role(role):
    for path in EVERY_ROLE_PATHS:
        assert mounts(role, path), (role, path)


@pytest.mark.parametrize("role", ["web", "api", "progress", "admin"])
def test_every_route_can_still_be_linked_to_from_any_role(role, settings):
    settings.ROOT_URLCONF = role_urlconf(role)

    assert reverse("catalog:home") == "/"
    assert reverse("movie-progress", args=[7]) == "/api/streaming/progress/7"
    assert reverse("viewing-session-create") == "/api/streaming/sessions"
    assert reverse("docs") == "/api/docs"
    assert reverse("admin:index") == "/admin/"
    assert reverse("accounts:login") == "/accounts/login/"


@pytest.mark.django_db
def test_the_progress_role_answers_no_page_and_keeps_its_liveness_check(settings):
    settings.ROOT_URLCONF = role_urlconf("progress")
    client = Client()

    page = client.get("/")
    catalog = client.get("/api/movies")
    live = client.get("/api/health/live")
    heartbeat = client.post("/api/streaming/progress/7", {}, content_type="application/json")

    assert page.status_code == 404
    assert b"<html" in page.content.lower()  # the designed 404 page, links and all
    assert catalog.status_code == 404 and catalog.json()["error"] == "not_found"
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert heartbeat.status_code != 404  # the progress API itself judged it


@pytest.mark.django_db
def test_the_web_role_renders_pages_that_link_to_other_pools(settings, make_movie):
    settings.ROOT_URLCONF = role_urlconf("web")
    make_movie("Heat")

    home = Client().get("/")

    assert home.status_code == 200
    assert b'href="/api/docs"' in home.content  # served by the api pool, linked from here


def test_an_unknown_role_stops_start_up_naming_the_setting(child_python):
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = child_python.run(
        "-c",
        "import django; django.setup()",
        env={**environment, "DJANGO_SETTINGS_MODULE": "streamsite.settings",
             "SERVICE_ROLE": "gateway"},
        timeout=60,
    )  # fmt: skip

    assert result.returncode != 0
    assert "SERVICE_ROLE must be one of all, web, api, progress, admin, got 'gateway'" in (
        result.stderr
    )


def test_rules_send_a_path_to_the_first_prefix_it_starts_with():
    assert roles.role_of("api/streaming/progress/7") == "progress"
    assert roles.role_of("api/streaming/sources/7") == "api"
    assert roles.role_of("api/health/live") is None
    assert roles.role_of("admin/login/") == "admin"
    assert roles.role_of("browse/") == "web"
