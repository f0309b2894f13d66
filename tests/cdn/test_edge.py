"""Our own edge for real: nginx's proxy_cache with the cache-purge module in front of the live
site, purged by the cdn app after an editor's change in the admin."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from cdn.models import CdnPurge, QueuedPurge
from cdn.providers import nginx
from cdn.tasks import drain_purge_queue
from tests.cdn.admin_form import form_fields
from tests.cdn.edge_server import EdgeServer, running_edge

SIGNING_KEY = "edge0and0origin0share0this0key"


@pytest.fixture
def edge(live_server, settings, tmp_path: Path) -> Iterator[EdgeServer]:
    """The edge in front of the live server, and the site configured to purge it."""
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache"), "needs REDIS_URL"
    settings.HLS_SIGNING_KEY = SIGNING_KEY
    with running_edge(
        origin=live_server.url.removeprefix("http://"),
        directory=tmp_path / "edge",
        hls_signing_key=SIGNING_KEY,
    ) as running:
        settings.CDN_PROVIDER = "nginx"
        settings.CDN_BASE_URL = running.public
        settings.CDN_NGINX_PURGE_URL = running.purge
        settings.CDN_S_MAXAGE = 86_400
        settings.CDN_PURGE_DELAY = 0.0
        yield running


def fetch(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def change_in_admin(editor: Client, movie_id: int, **changes: str) -> int:
    """Open the movie's change form, change fields as an editor types, press Save."""
    url = f"/admin/catalog/movie/{movie_id}/change/"
    data = form_fields(editor.get(url).content.decode())
    data.update({name: [value] for name, value in changes.items()})
    return editor.post(url, data).status_code


@pytest.fixture
def editor(db) -> Client:
    user = get_user_model().objects.create_superuser("editor", "editor@example.org", "pw-edge-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
def test_an_admin_edit_is_purged_from_the_edge_and_the_next_view_shows_it(edge, editor, make_movie):
    heat = make_movie("Heat", genres=("Crime",), overview="A heist in Los Angeles.")
    page = edge.public + heat.get_absolute_url()

    first, second = fetch(page), fetch(page)
    assert first[0] == second[0] == 200
    assert (first[1]["X-Edge-Cache"], second[1]["X-Edge-Cache"]) == ("MISS", "HIT")
    assert "Cache-Tag" not in second[1]  # read by the purge side, never by browsers
    # The edge cannot purge by tag: the app keeps which URIs it stored under each one.
    assert nginx.uris_for([f"movie-{heat.pk}"]) == [heat.get_absolute_url()]

    assert change_in_admin(editor, heat.pk, title="Heat (director's cut)") == 302
    drain_purge_queue()  # what the beat runs; the commit already started one

    after = fetch(page)
    assert after[1]["X-Edge-Cache"] == "MISS"
    assert "Heat (director&#x27;s cut)" in after[2]
    assert not QueuedPurge.objects.exists()
    log = CdnPurge.objects.filter(provider="nginx").latest("sent_at")
    assert log.status == CdnPurge.Status.DONE and log.answer.startswith("1 URIs purged")


@pytest.mark.django_db(transaction=True)
def test_a_purge_reaches_every_method_and_variant_of_an_api_answer(edge, make_movie):
    heat = make_movie("Heat")
    url = f"{edge.public}/api/movies/{heat.pk}"
    listing = f"{edge.public}/api/movies?ordering=title"
    fetch(url), fetch(url, "HEAD"), fetch(listing)

    # One copy per method whatever the client accepts: Vary is normalised at the edge.
    assert fetch(url, **{"Accept-Encoding": "gzip"})[1]["X-Edge-Cache"] == "HIT"
    assert fetch(url, "HEAD")[1]["X-Edge-Cache"] == "HIT"
    assert fetch(listing)[1]["X-Edge-Cache"] == "HIT"

    from catalog.models import Movie

    Movie.objects.get(pk=heat.pk).save()  # committed at once: the purge runs after it
    drain_purge_queue()

    assert fetch(url)[1]["X-Edge-Cache"] == "MISS"
    assert fetch(url, "HEAD")[1]["X-Edge-Cache"] == "MISS"
    assert fetch(listing)[1]["X-Edge-Cache"] == "MISS"  # a list it is in


@pytest.mark.django_db(transaction=True)
def test_signed_in_viewers_go_around_the_edge(edge, make_movie, client):
    heat = make_movie("Heat")
    page = edge.public + heat.get_absolute_url()
    fetch(page)

    assert fetch(page, Cookie="sessionid=abc")[1]["X-Edge-Cache"] == "BYPASS"
    assert fetch(page, Authorization="Api-Key sk_x")[1]["X-Edge-Cache"] == "BYPASS"


@pytest.mark.django_db(transaction=True)
def test_the_purge_listener_is_not_on_the_public_port(edge, make_movie):
    heat = make_movie("Heat")
    page = edge.public + heat.get_absolute_url()
    fetch(page)

    status, _, _ = fetch(f"{edge.public}/_edge/purge/GET{heat.get_absolute_url()}", "DELETE")

    assert status == 404
    assert fetch(page)[1]["X-Edge-Cache"] == "HIT"


@pytest.mark.django_db
def test_a_copy_the_edge_stores_again_during_a_purge_stays_in_the_tag_map(settings):
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache"), "needs REDIS_URL"
    nginx.record("/movies/heat/", ["movie-1", "catalog-detail"], 60)
    read_before_purging = nginx._members(["cdn:edge:tag:movie-1"])

    nginx.record("/movies/heat/", ["movie-1", "catalog-detail"], 120)  # a viewer, meanwhile
    nginx._forget(["cdn:edge:tag:movie-1", "cdn:edge:all"], read_before_purging)

    assert nginx.uris_for(["movie-1"]) == ["/movies/heat/"]
    nginx._forget(["cdn:edge:tag:movie-1"], nginx._members(["cdn:edge:tag:movie-1"]))
    assert nginx.uris_for(["movie-1"]) == []
