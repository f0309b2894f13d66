"""API keys: created in the admin and shown once, stored hashed, revocable, used by DRF."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import create_api_key, revoke_api_keys, set_premium

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.whoami_urls")]


@pytest.fixture
def owner():
    return get_user_model().objects.create_user("integrator")


def key_client(raw_key: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")


def test_the_admin_creates_a_key_and_shows_it_once(admin_client, owner):
    response = admin_client.post(
        "/admin/accounts/apikey/add/", {"user": owner.pk, "name": "mobile app"}, follow=True
    )

    page = response.content.decode()
    raw_key = re.search(r"API key for integrator: (\S+) — copy it now", page).group(1)
    api_key = ApiKey.objects.get()
    assert api_key.hashed_key == hashlib.sha256(raw_key.encode()).hexdigest()
    assert raw_key.startswith(f"{api_key.prefix}.")
    assert raw_key not in str(ApiKey.objects.values().get())  # only the digest is stored
    change_page = admin_client.get(f"/admin/accounts/apikey/{api_key.pk}/change/")
    assert raw_key not in change_page.content.decode()
    assert api_key.prefix in change_page.content.decode()
    assert key_client(raw_key).get("/api/whoami").json() == {
        "user": "integrator",
        "key": api_key.prefix,
        "premium": False,
    }


def test_requests_without_a_key_stay_anonymous(client):
    assert client.get("/api/whoami").json() == {"user": None, "key": None, "premium": False}


@pytest.mark.parametrize("header", ["Api-Key not-a-key", "Api-Key ", "api-key abc.def"])
def test_a_wrong_key_is_refused_with_a_challenge(header):
    response = Client(HTTP_AUTHORIZATION=header).get("/api/whoami")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Api-Key realm="api"'
    assert response.json()["error"] == "authentication_failed"


def test_a_revoked_key_is_refused_at_once(admin_client, owner):
    issued = create_api_key(user=owner, name="old")
    client = key_client(issued.raw_key)
    assert client.get("/api/whoami").status_code == 200

    admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": [issued.api_key.pk]},
    )

    assert client.get("/api/whoami").status_code == 401
    issued.api_key.refresh_from_db()
    assert issued.api_key.is_revoked()


def test_a_key_of_a_deactivated_user_is_refused(owner):
    issued = create_api_key(user=owner, name="ex-employee")
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    assert key_client(issued.raw_key).get("/api/whoami").status_code == 401


def _key_reads(queries: CaptureQueriesContext) -> int:
    return sum(1 for query in queries.captured_queries if 'FROM "accounts_apikey"' in query["sql"])


@pytest.fixture
def key_in_use(owner):
    """A key used for a while: its copy (with its owner) is cached, its creation long past."""
    issued = create_api_key(user=owner, name="in use")
    cache.clear()  # as if the change markers of its creation had expired
    client = key_client(issued.raw_key)
    assert client.get("/api/whoami").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/whoami").status_code == 200
    assert _key_reads(queries) == 0  # answered from the cache
    return issued, client


def test_a_cached_key_is_refused_at_once_when_its_owner_is_deactivated(owner, key_in_use):
    _, client = key_in_use
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    assert client.get("/api/whoami").status_code == 401


def test_a_cached_key_is_refused_at_once_when_revoked_by_the_service(key_in_use):
    issued, client = key_in_use
    revoke_api_keys(key_ids=[issued.api_key.pk])

    assert client.get("/api/whoami").status_code == 401


def test_a_cached_keys_owner_turned_premium_is_seen_at_once(owner, key_in_use):
    _, client = key_in_use

    set_premium(user_ids=[owner.pk], premium=True)  # a bulk write: no signals
    premium_after_bulk = client.get("/api/whoami").json()["premium"]
    owner.profile.is_premium = False
    owner.profile.save()  # a save: the profile's signal
    premium_after_save = client.get("/api/whoami").json()["premium"]

    assert (premium_after_bulk, premium_after_save) == (True, False)


def _updates_of_last_used(queries: CaptureQueriesContext) -> int:
    return sum(
        1
        for query in queries.captured_queries
        if query["sql"].startswith('UPDATE "accounts_apikey"') and "last_used_at" in query["sql"]
    )


def test_last_use_is_recorded_at_most_once_a_minute(owner, clock):
    issued = create_api_key(user=owner, name="poller")
    client = key_client(issued.raw_key)

    with CaptureQueriesContext(connection) as burst:
        for _ in range(5):
            client.get("/api/whoami")
    updates_in_burst = _updates_of_last_used(burst)  # now: each request resets the log
    first_use = ApiKey.objects.get().last_used_at

    # A minute and a bit later: the process's clock moves on, and the stored time is moved
    # back instead of waiting.
    clock.advance(61)
    ApiKey.objects.update(last_used_at=first_use - dt.timedelta(seconds=61))
    client.get("/api/whoami")

    assert first_use is not None
    assert updates_in_burst == 1
    assert ApiKey.objects.get().last_used_at > first_use - dt.timedelta(seconds=1)
    assert timezone.now() - ApiKey.objects.get().last_used_at < dt.timedelta(seconds=5)


def test_session_writes_need_the_csrf_token_and_api_key_writes_do_not(owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)

    forged = browser.post("/api/whoami", {})  # what a hostile page could make a browser send
    browser.get("/")  # any page with a form (here: sign out) sets the CSRF cookie
    genuine = browser.post("/api/whoami", {}, HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    issued = create_api_key(user=owner, name="server to server")
    with_key = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")

    assert forged.status_code == 403
    assert "CSRF" in forged.json()["detail"]
    assert genuine.status_code == 201
    assert with_key.post("/api/whoami", {}).status_code == 201


def test_the_api_schema_documents_the_api_key_scheme(client):
    schema = client.get("/api/schema?format=json").json()

    scheme = schema["components"]["securitySchemes"]["ApiKeyAuth"]
    assert scheme == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": scheme["description"],
    }
    assert "Api-Key <key>" in scheme["description"]
