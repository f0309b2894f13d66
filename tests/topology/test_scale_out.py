"""The compose topology live: nginx in front of the role pools (three web instances), Redis with
its append-only file, a Celery worker and beat, all started from deploy/docker-compose.yml.

Tests that break the topology for good come last (the progress pool down, a web instance
killed); those that need all of it ask for ``whole``, which restarts what an earlier test left
down. Every test is marked as using the database, though few do: pytest-django runs such tests
before all others, and the topology (started once for the package) would otherwise be started
twice, once for each group.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import json
import re
import subprocess
import time
from collections import Counter

import pytest
import redis
from celery import Celery
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from progress import buffer, tokens
from progress.models import WatchProgress
from streamsite import roles
from tests.deploy import compose
from tests.topology.conftest import DYING, SLOWED
from tests.topology.harness import VARIABLES, Topology, hammer

pytestmark = pytest.mark.django_db(transaction=True)


def mounted(role: str, path: str) -> bool:
    resolver = URLResolver(RegexPattern(r"^/"), roles.mount(get_resolver().url_patterns, role))
    try:
        match = resolver.resolve(path)
    except Resolver404:
        return False
    return match.url_name != "api-unknown"  # the API's answer to paths it does not know


def sample_paths(patterns: list, prefix: str = "") -> list[str]:
    """A path for every route of the site (converters given a sample value); one for a group
    of routes the gateway sends to one pool as a whole (the admin's hundred)."""
    samples = {
        "int": "7",
        "slug": "heat",
        "str": "x",
        "path": "x/y",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    paths = []
    for entry in patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue  # /media/ (served by nginx) and the admin's app index regexes
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver) and not roles.rules_below(route):
            paths += sample_paths(entry.url_patterns, route)[:1]
        elif isinstance(entry, URLPattern):
            paths.append(
                "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: samples[m.group(1) or "str"], route)
            )
        else:
            paths += sample_paths(entry.url_patterns, route)
    return paths


def served_role(topology: Topology, edge, path: str) -> str | None:
    reply = edge.request(f"{edge.https}{path}?route-check", Host="localhost")  # never cached
    if edge.logged(reply.headers["X-Request-ID"])["upstream"] == "-":
        return None  # nginx answered itself
    tried = topology.upstreams(edge, reply.headers["X-Request-ID"])
    assert len(tried) == 1, (path, tried)
    return topology.services[tried[0]].spec["environment"]["SERVICE_ROLE"]


# --- The topology is compose's --------------------------------------------------------------


def test_every_service_compose_starts_runs_and_passes_its_own_health_check(whole):
    started = compose.started_by_up(whole.compose)
    running = [*whole.long_running(), "nginx"]
    checks = {n: c for n in running if (c := whole.health_command(whole.services[n])) is not None}

    for name in running:
        process = whole.services[name].process
        assert name == "nginx" or (process is not None and process.poll() is None), name
    with concurrent.futures.ThreadPoolExecutor(len(checks)) as pool:
        runs = {n: pool.submit(subprocess.run, c, capture_output=True) for n, c in checks.items()}
        results = {name: run.result() for name, run in runs.items()}
    assert {n: r.returncode for n, r in results.items()} == dict.fromkeys(checks, 0)
    assert set(checks) >= {*compose.instances(whole.compose), "nginx", "redis"}
    assert [n for n, s in started.items() if "beat" in compose.command(s)] == ["beat"]


def test_prometheus_scrapes_every_instance_by_its_service_name(whole):
    for name in compose.instances(whole.compose):
        # Straight to the instance, as Prometheus in the compose network: Host is its name.
        reply = whole.edge.request(
            f"http://127.0.0.1:{whole.services[name].port}/metrics", Host=f"{name}:8000"
        )

        assert reply.status == 200, (name, reply.body[:200])
        assert b"django_http_requests_total" in reply.body, name


def test_every_route_reaches_a_pool_that_mounts_it(whole, edge):
    checked = Counter()
    for path in sorted(set(sample_paths(get_resolver().url_patterns))):
        role = served_role(whole, edge, path)
        if role is None:
            assert path.startswith(("/hls/", "/metrics")), path
            continue
        assert mounted(role, path), f"nginx sent {path} to the {role} pool, which does not mount it"
        checked[role] += 1

    assert set(checked) == {"web", "api", "progress", "admin"}


def test_the_stock_server_is_replaced_and_plain_http_goes_to_https(whole, edge):
    redirect = edge.request(edge.http + "/browse/", Host="localhost")
    home = edge.request(edge.https + "/", Host="localhost")
    style = edge.request(edge.https + "/static/css/site.css", Host="localhost")

    assert redirect.status == 301, redirect.body  # not the image's welcome page
    assert redirect.headers["Location"] == "https://localhost/browse/"
    assert home.status == 200 and b"StreamSite" in home.body
    assert "max-age=31536000" in home.headers["Strict-Transport-Security"]
    assert style.status == 200  # collected by the migrate job into the volume nginx serves


# --- Spread, request ids, compression ---------------------------------------------------------


def test_page_views_are_spread_over_the_three_web_instances(whole, edge):
    ids = [edge.request(edge.https + f"/?n={n}", Host="localhost").headers["X-Request-ID"]
           for n in range(30)]  # fmt: skip

    served = Counter(whole.upstreams(edge, request_id)[0] for request_id in ids)
    assert set(served) == {"web-1", "web-2", "web-3"}
    assert min(served.values()) >= 6, served


def test_one_request_id_runs_through_nginx_gunicorn_and_django_logs(whole, edge):
    reply = edge.request(edge.https + "/api/no-such-endpoint", Host="localhost")
    request_id = reply.headers["X-Request-ID"]

    (instance,) = whole.upstreams(edge, request_id)
    log = whole.services[instance]
    deadline = time.monotonic() + 5
    while len(lines := [x for x in log.output().splitlines() if request_id in x]) < 2:
        assert time.monotonic() < deadline, log.output()[-2000:]
        time.sleep(0.05)

    assert reply.status == 404 and instance.startswith("api-")
    assert any("Not Found: /api/no-such-endpoint" in line for line in lines)  # Django's
    assert any('"GET /api/no-such-endpoint HTTP/1.1" 404' in line for line in lines)  # gunicorn's
    others = [s for n, s in whole.services.items() if n != instance]
    assert not any(request_id in service.output() for service in others)


def test_text_answers_leave_the_edge_compressed(whole, edge, make_movie):
    for n in range(24):
        make_movie(f"Night Film {n}", genres=("Crime", "Drama"), overview="Rain on neon. " * 12)
    sizes = {}

    for path in ("/", "/browse/", "/api/movies"):
        # Within a second (the edge's micro-cache, the instances' memory of the catalog's
        # version) every answer shows the new films.
        deadline = time.monotonic() + 10
        while b"Night Film" not in edge.request(edge.https + path, Host="localhost").body:
            assert time.monotonic() < deadline, path
            time.sleep(0.1)
        plain = edge.request(edge.https + path, Host="localhost")
        packed = edge.request(edge.https + path, Host="localhost", **{"Accept-Encoding": "gzip"})

        assert plain.status == packed.status == 200, path
        assert packed.headers["Content-Encoding"] == "gzip", path
        assert b"Night Film" in gzip.decompress(packed.body), path
        sizes[path] = (len(plain.body), len(packed.body))
        assert len(packed.body) < len(plain.body) / 3, (path, sizes[path])
    print("\nidentity vs gzip bytes:", sizes)


# --- least_conn -----------------------------------------------------------------------------


def test_least_conn_sends_a_slowed_instance_fewer_requests_than_round_robin(whole, edge, tmp_path):
    proxy = whole.services[SLOWED].proxy
    assert proxy is not None
    shares = {}
    # Each request to web-3 waits this long before it reaches it: several times what the others
    # take even on a crowded machine, so least_conn's preference shows whatever the load.
    proxy.delay = 0.5
    try:
        with whole.run_nginx(tmp_path / "round-robin", round_robin=True) as round_robin:
            for name, gateway in (("least_conn", edge), ("round_robin", round_robin)):
                outcomes = hammer(gateway, lambda n, g=name: f"/?{g}={n}", requests=90, clients=6)
                assert all(o.status == 200 for o in outcomes), Counter(o.status for o in outcomes)
                served = Counter(whole.upstreams(gateway, o.request_id)[0] for o in outcomes)
                shares[name] = served[SLOWED] / len(outcomes)
    finally:
        proxy.delay = 0.0

    print(f"\nshare of requests to the slowed instance: {shares}")
    assert shares["round_robin"] > 0.25  # its third, whatever it costs
    assert shares["least_conn"] < shares["round_robin"] * 0.6


# --- Progress through the gateway: Redis, its append-only file, the worker ---------------------


def test_a_heartbeat_survives_a_redis_crash_and_the_worker_flushes_it(whole, edge, make_movie):
    movie = make_movie("Heat")
    viewer = get_user_model().objects.create_user("viewer")
    with override_settings(SECRET_KEY=VARIABLES["SECRET_KEY"]):  # the instances' key
        token = tokens.issue(user_id=viewer.pk, movie_id=movie.pk)
    redis_service = whole.services["redis"]
    store = redis.Redis(port=redis_service.port)
    member = f"{viewer.pk}:{movie.pk}"

    heartbeat = {"position": 600, "duration": 7200, "client_ts": int(time.time() * 1000)}
    saved = edge.request(
        edge.https + f"/api/streaming/progress/{movie.pk}", "POST", json.dumps(heartbeat).encode(),
        Host="localhost", **{"Content-Type": "application/json", "X-Progress-Token": token},
    )  # fmt: skip
    assert saved.status in (200, 201, 202, 204), saved.body
    assert whole.upstreams(edge, saved.headers["X-Request-ID"])[0].startswith("progress-")
    assert store.sismember(buffer.DIRTY_KEY, member)

    whole.kill("redis")  # SIGKILL: no chance to write anything more
    whole.launch("redis")
    whole.wait_ready("redis")

    assert store.sismember(buffer.DIRTY_KEY, member)  # read back from the append-only file
    # Not the current app: shared tasks resolve to the current app, and later tests' would
    # go to this topology's broker once it is gone.
    Celery(broker=f"redis://127.0.0.1:{redis_service.port}/0", set_as_current=False).send_task(
        "progress.flush"
    )
    deadline = time.monotonic() + 60
    while not WatchProgress.objects.filter(user=viewer, movie=movie).exists():
        assert time.monotonic() < deadline, whole.services["worker"].output()[-3000:]
        time.sleep(0.2)
    assert WatchProgress.objects.get(user=viewer, movie=movie).position == 600


# --- An instance dying under a POST -----------------------------------------------------------


def test_a_post_an_instance_received_before_dying_is_not_replayed_but_a_get_is(whole, edge):
    proxy = whole.services[DYING].proxy
    assert proxy is not None
    proxy.dying = True  # progress-1 does the work, then its connection is reset unanswered
    try:
        get_retried = post_failed = None
        for _ in range(8):
            reply = edge.request(edge.https + "/api/streaming/progress/7", Host="localhost")
            tried = whole.upstreams(edge, reply.headers["X-Request-ID"])
            if tried[0] == DYING:
                get_retried = (reply, tried)
                break
        for _ in range(8):
            reply = edge.request(
                edge.https + "/api/streaming/sessions", "POST", b"{}",
                Host="localhost", **{"Content-Type": "application/json"},
            )  # fmt: skip
            tried = whole.upstreams(edge, reply.headers["X-Request-ID"])
            if tried[0] == DYING:
                post_failed = (reply, tried)
                break
    finally:
        proxy.dying = False

    assert get_retried is not None and post_failed is not None
    reply, tried = get_retried
    assert tried == [DYING, "progress-2"] and reply.status != 503  # progress-2 answered it
    reply, tried = post_failed
    assert tried == [DYING]  # never sent to progress-2
    assert reply.status == 503 and json.loads(reply.body)["error"] == "service_unavailable"
    request_id = reply.headers["X-Request-ID"]
    seen_by = {line for line, rid in proxy.requests if rid == request_id}
    assert seen_by == {"POST /api/streaming/sessions HTTP/1.1"}  # progress-1 got it, once
    assert request_id not in whole.services["progress-2"].output()


# --- Breaking it for good (last) ----------------------------------------------------------------


def test_with_the_progress_pool_down_pages_and_the_catalog_still_answer(topology, edge):
    topology.kill("progress-1")
    topology.kill("progress-2")

    statuses = {
        path: edge.request(edge.https + path, Host="localhost").status
        for path in ("/", "/browse/", "/api/movies", "/api/genres", "/accounts/login/")
    }
    heartbeat = edge.request(
        edge.https + "/api/streaming/progress/7", "POST", b"{}",
        Host="localhost", **{"Content-Type": "application/json"},
    )  # fmt: skip

    assert set(statuses.values()) == {200}, statuses
    assert heartbeat.status == 503 and heartbeat.headers["Retry-After"] == "5"


def test_killing_one_of_three_web_instances_under_load_fails_no_get(topology, edge):
    outcomes = hammer(
        edge, lambda n: f"/?load={n}", requests=160, clients=4,
        after=(40, lambda: topology.kill("web-1")),
    )  # fmt: skip

    failed = [o for o in outcomes if o.status != 200]
    tried = [topology.upstreams(edge, o.request_id) for o in outcomes if o.request_id]
    print(f"\nGETs while web-1 was killed: {len(outcomes)}, failed: {len(failed)}")
    assert not failed, Counter(o.status or o.error for o in failed)
    assert any(t == ["web-1"] for t in tried)  # it served before it died
    assert any(t[0] == "web-1" and len(t) > 1 for t in tried)  # met dead, answered by another
