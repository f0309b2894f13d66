"""Providers in the admin: seeded rows, clean validation errors, circuit state and probe results."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from streaming.models import Provider
from streamsite.resilience import get_breaker

CHANGELIST = "/admin/streaming/provider/"


def valid_form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Backup player",
        "slug": "backup-player",
        "kind": "embed",
        "enabled": "on",
        "priority": "40",
        "notes": "",
        "base_url": "https://backup.example.net",
        "movie_path_template": "/embed/movie/{tmdb_id}",
        "start_param": "t",
        "color_param": "",
        "extra_params": "{}",
        "health_path": "/",
        "timeout_seconds": "3",
    }
    data.update(overrides)
    return data


def test_migrations_seed_vidking_as_primary_and_two_example_fallbacks(db):
    # Whatever earlier tests left behind, run the seeding migration for real: back, then forward.
    Provider.objects.all().delete()
    executor = MigrationExecutor(connection)
    executor.migrate([("streaming", "0001_initial")])
    executor.loader.build_graph()
    executor.migrate([("streaming", "0002_seed_providers")])
    # And on to the latest, whose columns the model reads (and the tests after this one).
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("streaming"))

    vidking, embed, player = Provider.objects.by_priority()

    assert (vidking.slug, vidking.kind, vidking.enabled) == ("vidking", "vidking", True)
    assert vidking.base_url == "https://www.vidking.net"
    assert vidking.movie_path_template == "/embed/movie/{tmdb_id}"
    assert (vidking.start_param, vidking.color_param) == ("progress", "color")
    assert vidking.extra_params["color"] == "e50914"  # hex without '#'
    assert embed.movie_path_template == "/embed/movie/{tmdb_id}"
    assert (player.movie_path_template, player.start_param) == ("/movie/{tmdb_id}", "startAt")
    # Placeholders on reserved example domains: off until an editor points them somewhere.
    assert not embed.enabled and not player.enabled
    assert "example." in embed.base_url and "example." in player.base_url
    for provider in (vidking, embed, player):
        provider.full_clean()


def test_an_editor_adds_a_provider_without_code(admin_client, make_provider):
    response = admin_client.post(f"{CHANGELIST}add/", valid_form(base_url="https://b.example/"))

    assert response.status_code == 302
    provider = Provider.objects.get(slug="backup-player")
    assert provider.base_url == "https://b.example"  # trailing slash dropped
    assert provider.timeout_seconds == 3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("movie_path_template", "/embed/movie/{id}", "must contain {tmdb_id}"),
        ("movie_path_template", "/embed/movie/550", "must contain {tmdb_id}"),
        ("movie_path_template", "embed/{tmdb_id}", "must start with"),
        ("movie_path_template", "/embed/{tmdb_id}/{imdb_id}", "Unknown placeholder {imdb_id}"),
        ("movie_path_template", "/embed/{tmdb_id", "Unbalanced braces"),
        ("base_url", "ftp://files.example.net", "Enter a valid URL"),
        ("base_url", "vidking.net", "Enter a valid URL"),
        ("base_url", "https://p.example.net?x=1", "without a query string"),
        ("start_param", "start at", "query parameter name"),
        ("extra_params", "[1, 2]", "must be a JSON object"),
        ("extra_params", '{"autoPlay": true}', "must be a string"),
        ("extra_params", "{autoPlay: 1}", "Enter a valid JSON"),
        ("extra_params", '{"t": "5"}', "start-time parameter"),
        ("priority", "-1", "greater than or equal to 0"),
        ("timeout_seconds", "0", "greater than or equal to 0.1"),
        ("timeout_seconds", "-2", "greater than or equal to 0.1"),
        ("timeout_seconds", "600", "less than or equal to 60"),
        ("health_path", "health", "must start with"),
    ],
)
def test_bad_provider_settings_are_refused_with_a_clear_message(
    field, value, message, admin_client, make_provider
):
    response = admin_client.post(f"{CHANGELIST}add/", valid_form(**{field: value}))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert not Provider.objects.filter(slug="backup-player").exists()


def test_provider_list_shows_circuit_state_and_last_probe(
    admin_client, make_provider, provider_server, django_capture_on_commit_callbacks
):
    from streaming import tasks

    up = make_provider(provider_server("healthy").base_url, name="Up player")
    down = make_provider(provider_server("failing").base_url, name="Down player")
    never = make_provider("https://never.example.net", name="Never probed", enabled=False)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            tasks.probe_providers.delay()

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    rows = {
        provider.name: row
        for provider in (up, down, never)
        for row in response.content.decode().split("<tr")
        if provider.name in row
    }
    assert ">closed<" in rows["Up player"]
    assert "healthy" in rows["Up player"] and "HTML page in" in rows["Up player"]
    assert ">open (probe in " in rows["Down player"]
    assert "failing" in rows["Down player"] and "HTTP 503" in rows["Down player"]
    assert "never" in rows["Never probed"]


def test_editor_closes_a_circuit_from_the_list(admin_client, make_provider):
    provider = make_provider("https://p.example.net")
    breaker = get_breaker(provider.breaker_name)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state() == "open"

    response = admin_client.post(
        CHANGELIST, {"action": "reset_circuits", "_selected_action": [provider.pk]}, follow=True
    )

    assert response.status_code == 200
    assert breaker.state() == "closed"
    assert "Closed 1 circuit" in response.content.decode()


def test_editor_probes_a_provider_on_demand(
    admin_client, make_provider, provider_server, django_capture_on_commit_callbacks
):
    provider = make_provider(provider_server("healthy").base_url, enabled=False)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(CHANGELIST, {"action": "probe_now", "_selected_action": [provider.pk]})

    provider.refresh_from_db()
    assert provider.last_probe_ok is True
