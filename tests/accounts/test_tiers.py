"""Tiers: anonymous, free, premium (set by editors), api; each with its own rate limit."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Profile

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.whoami_urls")]


def test_editors_make_users_premium_in_the_admin(admin_client):
    viewer = get_user_model().objects.create_user("viewer")
    signed_in = Client()
    signed_in.force_login(viewer)
    assert signed_in.get("/api/genres")["RateLimit-Limit"] == "120"

    admin_client.post(
        "/admin/auth/user/", {"action": "make_premium", "_selected_action": [viewer.pk]}
    )

    assert Profile.objects.get(user=viewer).is_premium
    assert signed_in.get("/api/genres")["RateLimit-Limit"] == "600"
    admin_client.post("/admin/auth/user/", {"action": "make_free", "_selected_action": [viewer.pk]})
    assert signed_in.get("/api/genres")["RateLimit-Limit"] == "120"


def test_the_tier_of_a_signed_in_user_costs_no_extra_query():
    viewer = get_user_model().objects.create_user("viewer")
    Profile.objects.create(user=viewer, is_premium=True)
    client = Client()
    client.force_login(viewer)

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/whoami")

    assert response["RateLimit-Limit"] == "600"
    sqls = [query["sql"] for query in queries.captured_queries]
    assert not [
        sql for sql in sqls if sql.startswith("SELECT") and 'FROM "accounts_profile"' in sql
    ]
    assert any('LEFT OUTER JOIN "accounts_profile"' in sql for sql in sqls)
