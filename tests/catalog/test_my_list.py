"""My list: saved from detail pages and cards (a form without JavaScript, the API with it), a
row on home, its own page, and an API of its own; private to each viewer."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects
from rest_framework.test import APIClient

from catalog.models import ListEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer():
    return get_user_model().objects.create_user("viewer", password="correct horse battery")


@pytest.fixture
def viewer_api(viewer) -> APIClient:
    client = APIClient()
    client.force_login(viewer)
    return client


@pytest.fixture
def viewer_page(viewer) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


def titles(response) -> list[str]:
    return [item["movie"]["title"] for item in response.json()["results"]]


def test_anonymous_callers_are_refused_with_a_challenge(api_client, make_movie):
    movie = make_movie("Heat")

    for method, path in [
        ("get", "/api/me/list"),
        ("get", f"/api/me/list/{movie.pk}"),
        ("put", f"/api/me/list/{movie.pk}"),
        ("delete", f"/api/me/list/{movie.pk}"),
    ]:
        response = getattr(api_client, method)(path)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Api-Key")


def test_put_adds_once_get_tells_and_delete_removes(viewer_api, make_movie):
    heat, alien = make_movie("Heat"), make_movie("Alien")

    assert viewer_api.put(f"/api/me/list/{heat.pk}").status_code == 201
    again = viewer_api.put(f"/api/me/list/{heat.pk}")
    assert again.status_code == 200 and again.json()["on_list"] is True
    assert viewer_api.put(f"/api/me/list/{alien.pk}").status_code == 201

    assert titles(viewer_api.get("/api/me/list")) == ["Alien", "Heat"]  # newest first
    entry = viewer_api.get(f"/api/me/list/{heat.pk}").json()
    assert entry["movie_id"] == heat.pk and entry["on_list"] is True and entry["added_at"]

    assert viewer_api.delete(f"/api/me/list/{heat.pk}").status_code == 204
    assert viewer_api.delete(f"/api/me/list/{heat.pk}").status_code == 204  # already gone
    assert viewer_api.get(f"/api/me/list/{heat.pk}").json() == {
        "movie_id": heat.pk,
        "on_list": False,
        "added_at": None,
    }
    assert titles(viewer_api.get("/api/me/list")) == ["Alien"]


def test_the_list_answers_the_list_endpoints_movie_shape(viewer_api, api_client, make_movie):
    heat = make_movie("Heat", genres=("Crime", "Drama"))
    viewer_api.put(f"/api/me/list/{heat.pk}")

    saved = viewer_api.get("/api/me/list").json()["results"][0]["movie"]

    assert saved == api_client.get("/api/movies").json()["results"][0]


def test_each_viewers_list_is_their_own(viewer_api, make_movie):
    heat = make_movie("Heat")
    viewer_api.put(f"/api/me/list/{heat.pk}")
    other = APIClient()
    other.force_login(get_user_model().objects.create_user("other"))

    assert other.get("/api/me/list").json() == {"results": []}
    assert other.get(f"/api/me/list/{heat.pk}").json()["on_list"] is False


def test_unknown_and_unpublished_movies_are_json_404s(viewer_api, make_movie):
    draft = make_movie("Draft", published=False)

    for movie_id in (draft.pk, 999_999):
        response = viewer_api.put(f"/api/me/list/{movie_id}")
        assert response.status_code == 404
        assert response.json()["detail"] == f"No published movie with id {movie_id}."
    assert not ListEntry.objects.exists()


def test_a_movie_unpublished_later_leaves_the_list(viewer_api, make_movie):
    heat = make_movie("Heat")
    viewer_api.put(f"/api/me/list/{heat.pk}")

    heat.is_published = False
    heat.save()

    assert viewer_api.get("/api/me/list").json() == {"results": []}


def test_browser_writes_need_the_csrf_token(viewer, make_movie):
    heat = make_movie("Heat")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(viewer)

    response = client.put(f"/api/me/list/{heat.pk}")

    assert response.status_code == 403
    assert not ListEntry.objects.exists()


def test_an_api_key_works_without_csrf(viewer, make_movie):
    from accounts.services import create_api_key

    heat = make_movie("Heat")
    key = create_api_key(user=viewer, name="app").raw_key
    client = APIClient(enforce_csrf_checks=True)

    response = client.put(f"/api/me/list/{heat.pk}", HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert response.status_code == 201


# --- Pages ----------------------------------------------------------------------------------


def test_without_javascript_the_button_posts_and_comes_back(viewer_page, make_movie):
    heat = make_movie("Heat")
    detail = viewer_page.get(heat.get_absolute_url())
    assertContains(detail, 'aria-label="Add Heat to My list"')

    response = viewer_page.post(
        f"/my-list/{heat.pk}/", {"action": "add", "next": "/browse/?genre=drama"}
    )

    assertRedirects(response, "/browse/?genre=drama", fetch_redirect_response=False)
    assertContains(
        viewer_page.get(heat.get_absolute_url()), 'aria-label="Remove Heat from My list"'
    )
    viewer_page.post(f"/my-list/{heat.pk}/", {"action": "remove"})
    assert not ListEntry.objects.exists()


def test_the_form_never_sends_the_viewer_to_another_site(viewer_page, make_movie):
    heat = make_movie("Heat")

    response = viewer_page.post(
        f"/my-list/{heat.pk}/", {"action": "add", "next": "https://evil.example/"}
    )

    assertRedirects(response, heat.get_absolute_url(), fetch_redirect_response=False)


def test_a_bad_action_is_400_and_changes_nothing(viewer_page, make_movie):
    heat = make_movie("Heat")

    assert viewer_page.post(f"/my-list/{heat.pk}/", {"action": "steal"}).status_code == 400
    assert viewer_page.post(f"/my-list/{heat.pk}/").status_code == 400
    assert not ListEntry.objects.exists()


def test_home_shows_a_my_list_row_and_the_page_lists_everything(viewer_page, make_movie):
    heat, alien = make_movie("Heat"), make_movie("Alien")
    viewer_page.post(f"/my-list/{heat.pk}/", {"action": "add"})
    viewer_page.post(f"/my-list/{alien.pk}/", {"action": "add"})

    home = viewer_page.get("/")
    assertContains(home, '<h2 class="row__title" id="row-my-list">My list</h2>')
    page = viewer_page.get("/my-list/")
    assertContains(page, "2 films, most recently added first")
    text = page.content.decode()
    assert text.index("Alien</span>") < text.index("Heat</span>")
    assert page["Cache-Control"] == "private, no-cache"


def test_visitors_get_a_sign_in_link_and_shared_pages_stay_cacheable(client, make_movie):
    heat = make_movie("Heat")

    detail = client.get(heat.get_absolute_url())
    assertContains(detail, f'href="/accounts/login/?next={heat.get_absolute_url()}"')
    assertNotContains(detail, "data-my-list")
    client.get("/")
    assert client.get("/")["X-Cache"] == "HIT"  # no per-visitor form, no CSRF token
    assertRedirects(client.get("/my-list/"), "/accounts/login/?next=/my-list/")


def test_the_cards_buttons_cost_one_query_however_many_cards(
    viewer_page, make_movie, django_assert_max_num_queries
):
    movies = [make_movie(f"Film {n}", genres=("Drama",)) for n in range(6)]
    viewer_page.get("/")
    with django_assert_max_num_queries(40) as few:
        viewer_page.get("/")
    few_queries = len(few)  # now: the next request clears the connection's log
    for movie in movies[:3]:
        viewer_page.post(f"/my-list/{movie.pk}/", {"action": "add"})
    for n in range(6, 20):
        make_movie(f"Film {n}", genres=("Drama",))

    with django_assert_max_num_queries(few_queries + 1):  # the My list row
        response = viewer_page.get("/")

    assert response.content.decode().count("Remove Film") >= 3
