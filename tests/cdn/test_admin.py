"""The CDN in the admin: purge selected movies and genres, purge everything after a
confirmation, and the purge log with the provider's answer."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from catalog.edge import LIST_VIEW_TAGS
from catalog.models import Genre
from cdn.models import CdnPurge, QueuedPurge


@pytest.fixture
def editor(db) -> Client:
    user = get_user_model().objects.create_superuser("editor", "editor@example.org", "pw-admin-1")
    client = Client()
    client.force_login(user)
    return client


def run_action(editor: Client, model: str, action: str, ids: list[int]):
    return editor.post(
        f"/admin/catalog/{model}/",
        {"action": action, "_selected_action": [str(pk) for pk in ids]},
        follow=True,
    )


@pytest.mark.django_db(transaction=True)
def test_purge_selected_movies_from_the_admin(cloudflare_api, editor, make_movie):
    heat, alien = make_movie("Heat"), make_movie("Alien")
    cloudflare_api.purges.clear()  # adding them purged too

    page = run_action(editor, "movie", "purge_movies", [heat.pk, alien.pk])

    assert "Purge of 2 movies queued for cloudflare" in page.content.decode()
    assert set(cloudflare_api.purged("tags")) == {
        f"movie-{heat.pk}",
        f"movie-{alien.pk}",
        *LIST_VIEW_TAGS,
    }
    log = CdnPurge.objects.latest("sent_at")
    assert log.requested_by.username == "editor"
    assert log.reason == "2 movies, from the admin"


@pytest.mark.django_db(transaction=True)
def test_purge_selected_genres_from_the_admin(cloudflare_api, editor):
    crime = Genre.objects.create(name="Crime", slug="crime")
    cloudflare_api.purges.clear()

    run_action(editor, "genre", "purge_genres", [crime.pk])

    assert f"genre-{crime.pk}" in cloudflare_api.purged("tags")


@pytest.mark.django_db(transaction=True)
def test_purge_everything_asks_first(cloudflare_api, editor):
    confirm = editor.get("/admin/cdn/cdnpurge/purge-everything/")

    assert confirm.status_code == 200
    assert "Yes, purge everything" in confirm.content.decode()
    assert cloudflare_api.requests == 0 and not QueuedPurge.objects.exists()

    done = editor.post("/admin/cdn/cdnpurge/purge-everything/", follow=True)

    assert [purge.kind for purge in cloudflare_api.purges] == ["everything"]
    body = done.content.decode()
    assert "Purge of everything queued" in body
    assert "Everything" in body and "Done" in body  # the log, with its status


@pytest.mark.django_db(transaction=True)
def test_the_purge_log_shows_refusals_with_the_providers_answer(cloudflare_api, editor, genre):
    cloudflare_api.fail_next(
        429, (971, "Please wait and consider throttling your request speed"), retry_after=30
    )
    run_action(editor, "genre", "purge_genres", [genre.pk])

    log = editor.get("/admin/cdn/cdnpurge/").content.decode()

    assert "Refused, will retry" in log
    assert "971: Please wait and consider throttling your request speed" in log
    assert "Waiting: 6" in log  # nothing dropped
    waiting = editor.get("/admin/cdn/queuedpurge/").content.decode()
    assert f"genre-{genre.pk}" in waiting


@pytest.mark.django_db
def test_without_a_cdn_the_admin_says_there_is_nothing_to_purge(settings, editor, make_movie):
    settings.CDN_PROVIDER = "none"
    heat = make_movie("Heat")

    page = run_action(editor, "movie", "purge_movies", [heat.pk])

    assert "No CDN is configured" in page.content.decode()
    assert not QueuedPurge.objects.exists()


@pytest.mark.django_db
def test_editors_upload_their_own_poster_and_backdrop_validated_as_images(
    settings, tmp_path, editor, make_movie
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.cdn.admin_form import form_fields
    from tests.cdn.test_urls import jpeg

    settings.MEDIA_ROOT = tmp_path
    settings.ARTWORK_UPLOAD_MAX_BYTES = 50_000
    heat = make_movie("Heat")
    url = f"/admin/catalog/movie/{heat.pk}/change/"

    def save(**files):
        return editor.post(url, {**form_fields(editor.get(url).content.decode()), **files})

    not_an_image = save(poster_file=SimpleUploadedFile("p.jpg", b"<svg>no</svg>"))
    too_big = save(backdrop_file=SimpleUploadedFile("b.png", bytes(60_000)))
    good = save(
        poster_file=SimpleUploadedFile("p.jpg", jpeg(200, 300), content_type="image/jpeg"),
        backdrop_file=SimpleUploadedFile("b.jpg", jpeg(640, 360), content_type="image/jpeg"),
    )

    assert "Upload a JPEG, PNG or WebP image." in not_an_image.content.decode()
    assert "at most 0 MB" in too_big.content.decode() or "The image is" in too_big.content.decode()
    assert good.status_code == 302
    heat.refresh_from_db()
    assert heat.poster_file.name.startswith("posters/") and heat.backdrop_file.name.startswith(
        "backdrops/"
    )
    assert heat.backdrop_url() == f"/media/{heat.backdrop_file.name}"
