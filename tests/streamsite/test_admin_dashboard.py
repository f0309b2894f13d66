"""The admin: StreamSite's header, the live dashboard on its index (tiles each app registers,
read again by the page), the viewing statistics within reach, API keys picked by name, and
/favicon.ico."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains

from accounts.models import ApiKey
from progress import services
from progress.models import ViewingSession
from shield.models import Block, Reason
from streaming.models import Provider
from streaming.providers.base import circuit_status
from streamsite import dashboard, resilience

pytestmark = pytest.mark.django_db


def tiles(client: Client) -> dict[str, dict[str, str]]:
    response = client.get("/admin/dashboard.json")
    assert response.status_code == 200
    return {tile["key"]: tile for tile in response.json()["tiles"]}


def test_the_admin_is_streamsites(admin_client):
    response = admin_client.get("/admin/")

    assertContains(response, '<div id="site-name"><a href="/admin/">StreamSite</a></div>')
    assertContains(response, "<title>Dashboard | StreamSite admin</title>")
    assertNotContains(response, "Django administration")
    assertContains(response, 'rel="icon"')


def test_the_index_shows_every_tile_and_links_to_the_statistics(admin_client):
    response = admin_client.get("/admin/")

    for label in (
        "Watching now",
        "Heartbeats per minute",
        "Cache hit ratio",
        "Open circuits",
        "Active blocks",
        "Published films",
    ):
        assertContains(response, f'<span class="ss-tile__label">{label}</span>')
    assertContains(response, 'href="/admin/progress/viewingsession/statistics/"')
    # In the Progress section of the index too, beside the models.
    assertContains(
        response, '<a href="/admin/progress/viewingsession/statistics/">Viewing statistics</a>'
    )
    assertContains(response, 'data-dashboard-url="/admin/dashboard.json"')


def test_watching_now_counts_viewers_seen_in_the_last_two_minutes(admin_client, make_movie):
    heat, alien = make_movie("Heat"), make_movie("Alien")
    users = [get_user_model().objects.create_user(f"viewer{n}") for n in range(3)]
    now = timezone.now()
    ViewingSession.objects.create(user=users[0], movie=heat, last_seen_at=now)
    ViewingSession.objects.create(user=users[1], movie=alien, last_seen_at=now)
    ViewingSession.objects.create(user=users[0], movie=alien, last_seen_at=now)  # same viewer
    ViewingSession.objects.create(
        user=users[2], movie=heat, last_seen_at=now - dt.timedelta(minutes=10)
    )

    tile = tiles(admin_client)["watching-now"]

    assert tile["value"] == "2"
    assert tile["detail"] == "Viewers in the last 2 minutes, 2 films"


def test_heartbeats_per_minute_counts_every_heartbeat_every_process_took(admin_client, make_movie):
    movie = make_movie("Heat")
    viewer = get_user_model().objects.create_user("viewer")
    now = timezone.now()
    for second in range(5):
        services.record_heartbeat(
            user_id=viewer.pk, movie_id=movie.pk, position=60.0 + second, duration=6000.0,
            event="heartbeat", client_ts=now + dt.timedelta(seconds=second),
        )  # fmt: skip
    # A late one (older client time) changes nothing but was still received.
    services.record_heartbeat(
        user_id=viewer.pk, movie_id=movie.pk, position=1.0, duration=6000.0,
        event="heartbeat", client_ts=now - dt.timedelta(minutes=1),
    )  # fmt: skip

    assert float(tiles(admin_client)["heartbeats"]["value"]) >= 6


def test_open_circuits_and_active_blocks_say_what_is_wrong(admin_client):
    Provider.objects.all().delete()  # the seeded examples
    provider = Provider.objects.create(
        name="VidKing", slug="vidking", base_url="https://www.vidking.net",
        movie_path_template="/embed/movie/{tmdb_id}", priority=1, enabled=True,
    )  # fmt: skip
    Provider.objects.create(
        name="Backup", slug="backup", base_url="https://backup.example",
        movie_path_template="/e/{tmdb_id}", priority=2, enabled=True,
    )  # fmt: skip
    assert tiles(admin_client)["open-circuits"]["value"] == "0"
    breaker = resilience.get_breaker(provider.breaker_name)
    for _ in range(20):
        breaker.record_failure()
    assert circuit_status(provider.breaker_name).circuit == resilience.OPEN
    Block.objects.create(
        ip="203.0.113.9", reason=Reason.MISSING_PATHS, offence=1, duration_seconds=60,
        expires_at=timezone.now() + dt.timedelta(minutes=1),
    )  # fmt: skip

    found = tiles(admin_client)

    assert found["open-circuits"]["value"] == "1"
    assert found["open-circuits"]["detail"] == "of 2: VidKing"
    assert found["open-circuits"]["state"] == "warning"
    assert found["active-blocks"]["value"] == "1"
    assert found["active-blocks"]["detail"] == "Most for: scanning for missing paths"
    breaker.reset()


def test_cache_hit_ratio_reads_the_cache_servers_own_figures(admin_client, client, make_movie):
    make_movie("Heat")
    client.get("/api/movies")
    client.get("/api/movies")

    tile = tiles(admin_client)["cache-hit-ratio"]

    assert tile["value"].endswith("%")
    assert "hits of" in tile["detail"]


@pytest.fixture
def extra_tile() -> Iterator[None]:
    """A tile registered at run time, as a new app (a CDN purge queue) would."""
    dashboard.register(
        "cdn-queue",
        label="CDN purge queue",
        read=lambda: dashboard.Reading("3", "URLs waiting"),
        order=60,
        permission="auth.view_user",
    )
    dashboard.register("broken", label="Broken", read=lambda: 1 / 0, order=99)
    yield
    dashboard._tiles.pop("cdn-queue")
    dashboard._tiles.pop("broken")


def test_apps_add_tiles_without_touching_the_dashboard_and_a_broken_one_is_contained(
    admin_client, extra_tile
):
    found = tiles(admin_client)

    assert found["cdn-queue"]["value"] == "3"
    assert (found["broken"]["value"], found["broken"]["state"]) == ("—", "alert")
    assert found["broken"]["detail"] == "Unavailable (ZeroDivisionError)"
    assertContains(admin_client.get("/admin/"), "CDN purge queue")


def test_tiles_follow_the_editors_permissions(client, extra_tile):
    editor = get_user_model().objects.create_user("editor", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="view_movie"))
    client.force_login(editor)

    found = tiles(client)

    assert "catalog-published" in found
    assert not {"cdn-queue", "watching-now", "active-blocks"} & set(found)


def test_viewers_get_no_dashboard(client):
    viewer = get_user_model().objects.create_user("viewer")
    client.force_login(viewer)

    response = client.get("/admin/dashboard.json")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_an_api_key_needs_only_a_name_and_defaults_to_the_editor(admin_client, admin_user):
    form = admin_client.get("/admin/accounts/apikey/add/")
    assertContains(form, 'class="admin-autocomplete')
    assertContains(form, f'<option value="{admin_user.pk}" selected>{admin_user.username}</option>')

    response = admin_client.post(
        "/admin/accounts/apikey/add/", {"name": "mobile app", "user": admin_user.pk}, follow=True
    )

    assert response.status_code == 200
    assert ApiKey.objects.get().user == admin_user
    assertContains(response, "copy it now")


def test_favicon_ico_answers_an_icon(client, db):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO directory
