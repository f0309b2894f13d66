"""Editors see active blocks with their reasons and lift the mistaken ones."""

from __future__ import annotations

import pytest
from django.test import override_settings

from shield import services, store
from shield.models import Block, Reason
from tests.redis_process import redis_process
from tests.shield.conftest import client_from, signals

pytestmark = pytest.mark.django_db
IP = "203.0.113.80"


def _scan(client) -> None:
    for number in range(3):
        client.get(f"/wp-login-{number}.php")


def test_active_blocks_are_listed_with_their_reasons(admin_client):
    with signals(missing_paths="2/minute"):
        _scan(client_from(IP))

    page = admin_client.get("/admin/shield/block/?status=active").content.decode()

    assert IP in page
    assert "Scanning for missing paths" in page


def test_lifting_a_block_lets_the_client_back_in_and_resets_its_escalation(
    admin_client, admin_user
):
    client = client_from(IP)
    with signals(missing_paths="2/minute"):
        _scan(client)
        assert client.get("/api/genres").status_code == 403
        block = Block.objects.get(ip=IP)

        response = admin_client.post(
            "/admin/shield/block/", {"action": "lift", "_selected_action": [block.pk]}, follow=True
        )

        assert "Lifted 1 active block" in response.content.decode()
        assert client.get("/api/genres").status_code == 200
        block.refresh_from_db()
        assert block.lifted_by == admin_user
        assert block.lifted_at is not None
        assert not block.is_active()
        assert store.client().exists(f"shield:{{{IP}}}:block") == 0
        # Caught again later: a first offence again, so the shortest block.
        _scan(client)
    assert Block.objects.filter(ip=IP).latest("created_at").offence == 1


def test_with_redis_down_nothing_is_lifted_and_the_editor_is_told(admin_client):
    with redis_process() as server, override_settings(SHIELD_REDIS_URL=server.url):
        services.block(ip=IP, reason=Reason.FAILED_LOGINS, evidence={})
        block = Block.objects.get(ip=IP)
        server.stop()

        response = admin_client.post(
            "/admin/shield/block/", {"action": "lift", "_selected_action": [block.pk]}, follow=True
        )

    assert "Redis is unavailable, nothing lifted" in response.content.decode()
    block.refresh_from_db()
    assert block.is_active()
