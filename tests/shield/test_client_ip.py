"""The client IP comes from X-Forwarded-For only when our own proxy sent it."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import override_settings

from shield import services
from shield.client_ip import resolve
from shield.models import Reason
from tests.shield.conftest import client_from, ratelimits

NGINX = [ipaddress.ip_network("10.0.0.0/24")]
LB_AND_NGINX = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("192.168.7.2/32")]


def test_without_trusted_proxies_the_tcp_peer_is_the_client():
    assert resolve("203.0.113.5", "198.51.100.1", []) == "203.0.113.5"


def test_a_forged_header_from_an_untrusted_peer_is_ignored():
    assert resolve("203.0.113.5", "198.51.100.1, 10.0.0.9", NGINX) == "203.0.113.5"


def test_behind_nginx_the_address_nginx_saw_is_the_client():
    # The client sent "1.2.3.4" itself; nginx appended the real peer 198.51.100.20.
    assert resolve("10.0.0.2", "1.2.3.4, 198.51.100.20", NGINX) == "198.51.100.20"


def test_a_chain_of_trusted_proxies_is_walked_right_to_left():
    forwarded = "6.6.6.6, 198.51.100.20, 192.168.7.2"
    assert resolve("10.0.0.2", forwarded, LB_AND_NGINX) == "198.51.100.20"


def test_garbage_in_the_header_stops_the_walk_at_the_last_trusted_hop():
    assert resolve("10.0.0.2", "not-an-ip, 10.0.0.7", NGINX) == "10.0.0.7"
    assert resolve("10.0.0.2", "", NGINX) == "10.0.0.2"


def test_ipv4_mapped_ipv6_peers_are_their_ipv4_address():
    assert resolve("::ffff:203.0.113.5", None, []) == "203.0.113.5"


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=NGINX)
def test_a_blocked_client_cannot_forge_its_way_out():
    services.block(ip="203.0.113.66", reason=Reason.REQUEST_RATE, evidence={})
    forger = client_from("203.0.113.66", HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert forger.get("/api/movies").status_code == 403


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=NGINX)
def test_a_forged_header_does_not_buy_a_fresh_rate_limit_bucket():
    with ratelimits(anonymous="2/minute"):
        statuses = [
            client_from("203.0.113.70", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
            .get("/api/genres")
            .status_code
            for n in range(4)
        ]

    assert statuses == [200, 200, 429, 429]


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=NGINX)
def test_behind_a_trusted_proxy_each_client_gets_its_own_bucket():
    with ratelimits(anonymous="1/minute"):
        statuses = [
            client_from("10.0.0.2", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
            .get("/api/genres")
            .status_code
            for n in range(3)
        ]

    assert statuses == [200, 200, 200]


def test_behind_a_proxy_on_a_unix_socket_the_forwarded_address_is_the_client():
    # gunicorn reports no IP for a Unix-socket peer; only a local proxy can connect there.
    assert resolve("", "1.2.3.4, 198.51.100.20", NGINX) == "198.51.100.20"
    assert resolve("", None, NGINX) == "unknown"
