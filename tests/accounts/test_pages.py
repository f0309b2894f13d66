"""Sign up, sign in and sign out pages."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-42"


@pytest.fixture
def viewer():
    return get_user_model().objects.create_user(username="ada", password=PASSWORD)


def test_signup_page_has_a_labelled_form(client):
    response = client.get("/accounts/signup/")

    assert response.status_code == 200
    for field in ("id_username", "id_password1", "id_password2"):
        assertContains(response, f'<label class="field__label" for="{field}">')
    assertContains(response, 'aria-current="page"')


def test_signup_creates_the_account_and_signs_in(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "grace", "password1": PASSWORD, "password2": PASSWORD},
    )

    assertRedirects(response, "/")
    assert get_user_model().objects.filter(username="grace").exists()
    home = client.get("/")
    assertContains(home, "grace")
    assertContains(home, ">Sign out</button>")
    assertNotContains(home, ">Sign in</a>")


def test_signup_with_mismatched_passwords_is_400_and_explains(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "grace", "password1": PASSWORD, "password2": PASSWORD + "x"},
    )

    assert response.status_code == 400
    assertContains(response, "The two password fields", status_code=400)
    assertContains(response, 'aria-invalid="true"', status_code=400)
    assert not get_user_model().objects.filter(username="grace").exists()


def test_signup_returns_to_a_local_next_page_but_never_to_another_site(client):
    local = client.post(
        "/accounts/signup/?next=/movies/heat/",
        {"username": "grace", "password1": PASSWORD, "password2": PASSWORD},
    )
    client.logout()
    offsite = client.post(
        "/accounts/signup/?next=https://elsewhere.example/",
        {"username": "linus", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert local["Location"] == "/movies/heat/"
    assert offsite["Location"] == "/"


def test_login_signs_in_and_returns_to_the_page_the_viewer_came_from(client, viewer):
    page = client.get("/accounts/login/?next=/browse/")
    response = client.post(
        "/accounts/login/", {"username": "ada", "password": PASSWORD, "next": "/browse/"}
    )

    assertContains(page, '<input type="hidden" name="next" value="/browse/">')
    assert response.status_code == 302
    assert response["Location"] == "/browse/"
    assert client.get("/").context["user"] == viewer


def test_login_with_a_wrong_password_shows_why(client, viewer):
    response = client.post("/accounts/login/", {"username": "ada", "password": "nope"})

    assert response.status_code == 200
    assertContains(response, "Please enter a correct username and password")
    assertContains(response, 'role="alert"')


def test_header_offers_sign_in_to_visitors_with_a_way_back(client):
    response = client.get("/search/?q=heat")

    assertContains(response, 'href="/accounts/login/?next=/search/%3Fq%3Dheat"')
    assertContains(response, 'href="/accounts/signup/"')


def test_sign_out_is_a_csrf_protected_post_from_the_header(viewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    home = client.get("/")
    token = home.cookies["csrftoken"].value

    assertContains(home, '<form action="/accounts/logout/" method="post">')
    assertContains(home, 'name="csrfmiddlewaretoken"')
    assert client.post("/accounts/logout/").status_code == 403  # no token: refused
    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": token})

    assertRedirects(response, "/")
    assertContains(client.get("/"), ">Sign in</a>")
