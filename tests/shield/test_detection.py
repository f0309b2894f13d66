"""DDoS protection: scanners and floods are blocked automatically, honest clients never."""

from __future__ import annotations

import ipaddress
import random
import string
import time

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from accounts.services import create_api_key
from shield import services, store
from shield.models import Block, Reason
from tests.shield.conftest import client_from, ratelimits, signals

pytestmark = pytest.mark.django_db

SCANNER, VIEWER = "203.0.113.50", "198.51.100.50"


def _random_path() -> str:
    word = "".join(random.choices(string.ascii_lowercase, k=12))
    return random.choice([f"/wp-admin/{word}.php", f"/.git/{word}", f"/backup/{word}.zip"])


def _blocks(reason: str) -> float:
    return REGISTRY.get_sample_value("streamsite_ddos_blocks_total", {"reason": reason}) or 0.0


def test_a_scan_of_missing_paths_is_blocked_within_the_threshold_while_browsing_goes_on(
    make_movie,
):
    movie = make_movie("Heat")
    scanner, viewer = client_from(SCANNER), client_from(VIEWER)
    blocks_before = _blocks("missing_paths")
    browsing_pages = ["/", "/browse/", movie.get_absolute_url(), "/api/movies", "/api/genres"]

    scan_statuses, viewer_statuses = [], []
    # Hundreds of requests in a few seconds; the viewer browses (with the odd typo) meanwhile.
    for number in range(300):
        scan_statuses.append(scanner.get(_random_path()).status_code)
        if number % 10 == 0:
            viewer_statuses.append(viewer.get(browsing_pages[number // 10 % 5]).status_code)
        if number % 100 == 0:
            viewer_statuses.append(viewer.get("/movies/no-such-film/").status_code)

    threshold = 20  # SHIELD_MISSING_PATHS default: 20 distinct missing paths a minute
    assert scan_statuses[: threshold + 1] == [404] * (threshold + 1)
    assert set(scan_statuses[threshold + 1 :]) == {403}
    assert 403 not in viewer_statuses
    block = Block.objects.get(ip=SCANNER)
    assert block.reason == Reason.MISSING_PATHS
    assert block.evidence == {"count": threshold + 1, "threshold": threshold, "window_seconds": 60}
    assert block.is_active()
    assert not Block.objects.filter(ip=VIEWER).exists()
    assert _blocks("missing_paths") - blocks_before == 1


def test_a_blocked_client_gets_403_json_on_the_api_and_a_page_elsewhere():
    client = client_from(SCANNER)
    with signals(missing_paths="2/minute"):
        for _ in range(3):
            client.get(_random_path())

        api = client.get("/api/movies")
        page = client.get("/")

    assert api.status_code == 403
    assert api.json()["error"] == "blocked"
    assert 1 <= int(api["Retry-After"]) <= 60
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")
    assert "Access from your address is paused" in page.content.decode()
    assert 1 <= int(page["Retry-After"]) <= 60


def test_the_block_lives_in_redis_for_every_instance_with_the_block_duration():
    with signals(missing_paths="2/minute"):
        for _ in range(3):
            client_from(SCANNER).get(_random_path())

    ttl = store.client().ttl(f"shield:{{{SCANNER}}}:block")
    assert 55 <= ttl <= 60


def test_a_request_flood_is_blocked():
    client = client_from(SCANNER)
    with signals(request_rate="30/10 seconds"):
        statuses = [client.get("/api/genres").status_code for _ in range(40)]

    assert statuses[:30] == [200] * 30
    assert set(statuses[30:]) == {403}
    assert Block.objects.get(ip=SCANNER).reason == Reason.REQUEST_RATE


def test_an_api_key_client_is_held_to_its_tier_limit_never_blocked_as_a_flood(
    django_user_model,
):
    issued = create_api_key(user=django_user_model.objects.create_user("batch"), name="jobs")
    client = client_from(SCANNER, HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    # The shipped ratio, scaled down: the tier allows twice what the flood rule counts.
    with ratelimits(api="120/minute"), signals(request_rate="60/10 seconds"):
        statuses = [client.get("/api/genres").status_code for _ in range(125)]

    assert statuses == [200] * 120 + [429] * 5
    assert not Block.objects.exists()


def test_a_flood_with_a_made_up_api_key_is_still_blocked():
    client = client_from(SCANNER, HTTP_AUTHORIZATION="Api-Key not-a-key-anyone-was-given")
    with signals(request_rate="30/10 seconds"):
        statuses = [client.get("/api/genres").status_code for _ in range(40)]

    assert statuses[:30] == [401] * 30
    assert set(statuses[30:]) == {403}
    assert Block.objects.get(ip=SCANNER).reason == Reason.REQUEST_RATE


def test_rate_limit_refusals_are_not_counted_as_errors_toward_a_block():
    client = client_from(SCANNER)
    # A client that honours Retry-After late: refused again and again, escalated never.
    with ratelimits(anonymous="3/minute"), signals(error_rate="5/30 seconds"):
        statuses = [client.get("/api/genres").status_code for _ in range(20)]

    assert statuses == [200] * 3 + [429] * 17
    assert not Block.objects.exists()


def test_a_stream_of_client_errors_is_blocked():
    client = client_from(SCANNER)
    with signals(error_rate="10/30 seconds"):
        statuses = [client.get("/api/movies?bogus=1").status_code for _ in range(13)]

    assert statuses[:11] == [400] * 11
    assert statuses[11:] == [403, 403]
    assert Block.objects.get(ip=SCANNER).reason == Reason.ERROR_RATE


def test_password_guessing_is_blocked():
    client = client_from(SCANNER)
    with signals(failed_logins="5/5 minutes"), ratelimits(login_ip="100/minute"):
        statuses = [
            client.post("/accounts/login/", {"username": f"u{n}", "password": "guess"}).status_code
            for n in range(7)
        ]

    assert statuses[:6] == [200] * 6
    assert statuses[6] == 403
    assert Block.objects.get(ip=SCANNER).reason == Reason.FAILED_LOGINS


@override_settings(SHIELD_ALLOWLIST=[ipaddress.ip_network("203.0.113.0/24")])
def test_allowlisted_addresses_are_never_blocked():
    client = client_from(SCANNER)
    with signals(missing_paths="2/minute", request_rate="5/10 seconds"):
        statuses = [client.get(_random_path()).status_code for _ in range(30)]

    assert set(statuses) == {404}
    assert not Block.objects.exists()


@override_settings(SHIELD_BLOCK_DURATIONS=[1, 2, 4], SHIELD_BLOCK_CACHE_SECONDS=0)
def test_repeat_offenders_are_blocked_for_longer_each_time(clock):
    client = client_from(SCANNER)
    key = f"shield:{{{SCANNER}}}:block"
    with signals(missing_paths="2/minute"):
        for offence, duration in enumerate((1, 2, 4), start=1):
            for _ in range(3):
                client.get(_random_path())
            assert client.get("/api/genres").status_code == 403
            assert 0 < store.client().pttl(key) <= duration * 1000
            if offence == 1:
                # Real time passes until Redis ends the block by itself.
                deadline = time.monotonic() + 10
                while client.get("/api/genres").status_code == 403:
                    assert time.monotonic() < deadline, "the block never ended"
                    time.sleep(0.1)
            else:
                # The longer ones (2 s, 4 s) end as if they had expired: gone from Redis, and
                # this process's memory of them outlived by the clock.
                store.client().delete(key)
                clock.advance(duration)
                assert client.get("/api/genres").status_code == 200

    blocks = Block.objects.filter(ip=SCANNER).order_by("created_at")
    assert [(b.offence, b.duration_seconds) for b in blocks] == [(1, 1), (2, 2), (3, 4)]


def test_blocks_are_not_escalated_beyond_the_longest_duration():
    with override_settings(SHIELD_BLOCK_DURATIONS=[60, 600]):
        durations = []
        for _ in range(3):
            durations.append(
                services.block(ip=SCANNER, reason=Reason.REQUEST_RATE, evidence={"count": 1})
            )
            store.client().delete(f"shield:{{{SCANNER}}}:block")  # as if it had expired

    assert durations == [60, 600, 600]


def test_a_threshold_crossed_by_two_workers_at_once_blocks_once():
    first = services.block(ip=SCANNER, reason=Reason.MISSING_PATHS, evidence={})
    second = services.block(ip=SCANNER, reason=Reason.REQUEST_RATE, evidence={})

    assert (first, second) == (60, None)
    assert Block.objects.filter(ip=SCANNER).count() == 1


def test_missing_assets_do_not_look_like_a_scan_and_health_checks_are_not_counted():
    client = client_from(SCANNER)
    with signals(missing_paths="2/minute", error_rate="2/30 seconds", request_rate="9/10 seconds"):
        assets = [client.get(f"/static/img/missing-{n}.png").status_code for n in range(6)]
        health = [client.get("/api/health/live").status_code for _ in range(10)]

    assert set(assets) == {404}
    assert set(health) == {200}
    assert not Block.objects.exists()


@pytest.mark.urls("tests.shield.bucket_urls")
def test_a_probe_is_never_counted_and_answers_a_blocked_address_wherever_it_is_routed():
    client = client_from(SCANNER)
    with signals(request_rate="3/10 seconds"):
        probes = [client.get("/anything/uptime").status_code for _ in range(25)]
        counted = Block.objects.exists()
        services.block(ip=SCANNER, reason=Reason.MISSING_PATHS, evidence={})
        while_blocked = client.get("/anything/uptime").status_code
        elsewhere = client.get("/anything/tiered").status_code

    assert probes == [200] * 25
    assert not counted  # 25 requests against a threshold of 3: none of them was counted
    assert while_blocked == 200  # load balancers keep seeing the instance
    assert elsewhere == 403


def test_a_block_placed_by_another_instance_is_enforced_here_within_a_second():
    client = client_from(SCANNER)
    assert client.get("/api/genres").status_code == 200  # seen, not blocked: batching starts

    services.block(ip=SCANNER, reason=Reason.REQUEST_RATE, evidence={})  # as another instance
    served_meanwhile, deadline = 0, time.monotonic() + 5
    while client.get("/api/genres").status_code != 403:
        assert time.monotonic() < deadline, "the block was never enforced"
        served_meanwhile += 1
        time.sleep(0.05)

    # At most one batch (SHIELD_COUNT_BATCH) or one SHIELD_CHECK_SECONDS slips through.
    assert served_meanwhile < 10
