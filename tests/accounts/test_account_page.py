"""The account page: signed-in devices (each signed out alone, or all at once), a new password,
the e-mail address, deleting the viewing history; and password reset by e-mail."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone
from pytest_django.asserts import assertContains, assertRedirects

from accounts.models import DeviceSession
from progress import buffer, services
from progress.models import ViewingSession, WatchProgress
from progress.upsert import Heartbeat, ProgressRow, write_rows

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Signing in is what these tests do over and over; the real hasher is slow by design.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def viewer():
    return get_user_model().objects.create_user("ada", email="ada@example.org", password=PASSWORD)


def sign_in(user_agent: str, address: str = "203.0.113.7") -> Client:
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=address)
    response = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    assert response.status_code == 302
    return client


def signed_in(client: Client) -> bool:
    return client.get("/accounts/account/").status_code == 200


def test_visitors_are_sent_to_sign_in(client):
    assertRedirects(client.get("/accounts/account/"), "/accounts/login/?next=/accounts/account/")


def test_the_page_lists_every_signed_in_browser_and_marks_this_one(viewer):
    laptop = sign_in(FIREFOX)
    sign_in(SAFARI, "198.51.100.4")

    response = laptop.get("/accounts/account/")

    assertContains(response, "Firefox on Windows")
    assertContains(response, "Safari on iPhone")
    assertContains(response, "from 198.51.100.4")
    assertContains(response, "This device", count=1)
    assert "no-store" in response["Cache-Control"]
    # A session key is a credential: it never appears on another browser's page.
    for row in DeviceSession.objects.all():
        assert row.session_key not in response.content.decode()


def device_ids(response) -> dict[str, str]:
    """Device names on the page → the id its sign-out form sends."""
    page = response.content.decode()
    found = re.findall(
        r'<span class="device__name">([^<]+).*?name="device" value="([0-9a-f]+)"', page, re.S
    )
    return dict(found)


def test_signing_out_one_device_leaves_the_others(viewer):
    laptop, phone = sign_in(FIREFOX), sign_in(SAFARI)

    ids = device_ids(laptop.get("/accounts/account/"))
    response = laptop.post(
        "/accounts/account/devices/sign-out/", {"device": ids["Safari on iPhone"]}
    )

    assertRedirects(response, "/accounts/account/", fetch_redirect_response=False)
    assertContains(laptop.get("/accounts/account/"), "That device is signed out.")
    assert not signed_in(phone)


def test_a_device_id_of_another_account_signs_nobody_out(viewer):
    laptop = sign_in(FIREFOX)
    get_user_model().objects.create_user("eve", password=PASSWORD)
    eve = Client(HTTP_USER_AGENT=SAFARI)
    eve.post("/accounts/login/", {"username": "eve", "password": PASSWORD})
    ada_ids = device_ids(laptop.get("/accounts/account/"))

    eve.post("/accounts/account/devices/sign-out/", {"device": ada_ids["Firefox on Windows"]})

    assert signed_in(laptop) and signed_in(eve)


def test_sign_out_everywhere_ends_every_session_this_one_included(viewer):
    laptop, phone = sign_in(FIREFOX), sign_in(SAFARI)
    admin_session = Client()
    admin_session.force_login(viewer)  # signed in some other way: still found by its user

    response = laptop.post("/accounts/account/devices/sign-out-all/")

    assertRedirects(response, "/accounts/login/")
    assert not any(signed_in(client) for client in (laptop, phone, admin_session))
    assert not DeviceSession.objects.filter(user_id=viewer.pk).exists()


def test_a_new_password_keeps_this_browser_and_signs_out_the_others(viewer):
    laptop, phone = sign_in(FIREFOX), sign_in(SAFARI)

    wrong = laptop.post(
        "/accounts/account/password/",
        {
            "old_password": "nope",
            "new_password1": "a new passphrase 42",
            "new_password2": "a new passphrase 42",
        },
    )
    assert wrong.status_code == 400
    assertContains(wrong, "Your old password was entered incorrectly", status_code=400)

    response = laptop.post(
        "/accounts/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a new passphrase 42",
            "new_password2": "a new passphrase 42",
        },
    )

    assertRedirects(response, "/accounts/account/", fetch_redirect_response=False)
    assertContains(laptop.get("/accounts/account/"), "1 other device signed out")
    assert not signed_in(phone)
    assert Client().login(username="ada", password="a new passphrase 42")


def test_the_email_address_can_be_changed_and_must_be_one(viewer):
    laptop = sign_in(FIREFOX)

    assert laptop.post("/accounts/account/email/", {"email": "not an address"}).status_code == 400
    laptop.post("/accounts/account/email/", {"email": "ada@lovelace.example"})

    viewer.refresh_from_db()
    assert viewer.email == "ada@lovelace.example"


def test_deleting_the_viewing_history_forgets_positions_sessions_and_the_buffer(
    viewer, make_movie, settings
):
    heat, alien = make_movie("Heat"), make_movie("Alien")
    ViewingSession.objects.create(user=viewer, movie=heat, device="test")
    now = timezone.now()
    write_rows(
        [
            ProgressRow.of(
                Heartbeat(
                    position=600, duration=6000, completed=False, client_ts=now, received_at=now
                ),
                user_id=viewer.pk,
                movie_id=heat.pk,
            )
        ]
    )
    services.record_heartbeat(  # buffered in Redis, not flushed yet
        user_id=viewer.pk, movie_id=alien.pk, position=900, duration=7000, event="heartbeat",
        client_ts=now,
    )  # fmt: skip
    other = get_user_model().objects.create_user("other")
    ViewingSession.objects.create(user=other, movie=heat, device="test")
    laptop = sign_in(FIREFOX)

    refused = laptop.post("/accounts/account/history/delete/", {})
    assert refused.status_code == 400
    assertContains(refused, "Tick the box to confirm", status_code=400)
    assert WatchProgress.objects.filter(user=viewer).exists()

    response = laptop.post("/accounts/account/history/delete/", {"confirm": "on"})

    assertRedirects(response, "/accounts/account/", fetch_redirect_response=False)
    assertContains(
        laptop.get("/accounts/account/"), "Your viewing history is deleted, on every device."
    )
    assert not WatchProgress.objects.filter(user=viewer).exists()
    assert not ViewingSession.objects.filter(user=viewer).exists()
    assert services.continue_watching(user_id=viewer.pk, limit=10) == []
    assert buffer.get_progress(user_id=viewer.pk, movie_id=alien.pk) is None
    assert ViewingSession.objects.filter(user=other).exists()  # nobody else's


# --- Password reset -------------------------------------------------------------------------


def reset_link(message: mail.EmailMessage) -> str:
    found = re.search(r"https?://[^/\s]+(/accounts/password-reset/\S+/)", message.body)
    assert found, message.body
    return found.group(1)


def test_a_forgotten_password_is_reset_through_an_emailed_link(viewer):
    phone = sign_in(SAFARI)
    assertContains(Client().get("/accounts/login/"), 'href="/accounts/password-reset/"')

    response = Client().post("/accounts/password-reset/", {"email": "ada@example.org"})

    assertRedirects(response, "/accounts/password-reset/sent/")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.org"]
    assert message.subject == "Reset your StreamSite password"
    browser = Client()
    form = browser.get(reset_link(message), follow=True)
    assertContains(form, "Choose a new password")
    done = browser.post(
        form.redirect_chain[-1][0],
        {"new_password1": "brand new passphrase 7", "new_password2": "brand new passphrase 7"},
    )
    assertRedirects(done, "/accounts/password-reset/done/")
    assert Client().login(username="ada", password="brand new passphrase 7")
    assert not signed_in(phone)  # whoever had the old password is out
    assertContains(browser.get(reset_link(message), follow=True), "This link does not work")


def test_an_unknown_address_gets_the_same_answer_and_no_mail(viewer):
    response = Client().post("/accounts/password-reset/", {"email": "nobody@example.org"})

    assertRedirects(response, "/accounts/password-reset/sent/")
    assert mail.outbox == []


def test_sign_up_takes_an_optional_email_for_resets(client):
    client.post(
        "/accounts/signup/",
        {
            "username": "grace",
            "email": "grace@example.org",
            "password1": "correct-horse-battery-42",
            "password2": "correct-horse-battery-42",
        },
    )

    assert get_user_model().objects.get(username="grace").email == "grace@example.org"
