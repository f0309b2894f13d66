"""streamsite.cache: key naming, TTLs, versions, stampede protection, stale fallback, outages."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import OperationalError, transaction
from django.http import Http404
from prometheus_client import REGISTRY

from streamsite import cache
from tests.redis_process import redis_process


@pytest.fixture
def namespace() -> str:
    return f"test{uuid.uuid4().hex[:8]}"


def counted(namespace: str, result: str) -> float:
    labels = {"namespace": namespace, "result": result}
    return REGISTRY.get_sample_value("streamsite_cache_requests_total", labels) or 0.0


def errors(operation: str) -> float:
    labels = {"operation": operation}
    return REGISTRY.get_sample_value("streamsite_cache_errors_total", labels) or 0.0


class Loader:
    """A loader that remembers how often it ran."""

    def __init__(self, value: object) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        return self.value


def fail_with(exc: BaseException):
    def loader() -> object:
        raise exc

    return loader


def test_keys_carry_namespace_version_name_and_arguments(namespace):
    key = cache.make_key(namespace, "movie", 42, "popularity")

    assert key == f"{namespace}:v{cache.version(namespace)}:movie:42:popularity"


def test_long_or_spaced_arguments_are_hashed_into_short_stable_keys(namespace):
    long_query = "q=" + "x" * 300

    key = cache.make_key(namespace, "search", long_query, "two words")

    assert key == cache.make_key(namespace, "search", long_query, "two words")
    assert len(key) < 150 and " " not in key and long_query not in key


def test_ttls_come_from_settings_and_the_environment_overrides_them(child_python):
    assert cache.ttl("catalog") == django_settings.CACHE_TTLS["catalog"]
    code = (
        "import django, json; django.setup(); from streamsite import cache; "
        "print(json.dumps([cache.ttl('catalog'), cache.ttl('sources')]))"
    )
    result = child_python.run(
        "-c",
        code,
        env={
            **os.environ,
            "CACHE_TTL_CATALOG": "7",
            "DJANGO_SETTINGS_MODULE": "streamsite.settings",
        },
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        7,
        django_settings.CACHE_TTLS["sources"],
    ]


def test_a_bad_ttl_in_the_environment_stops_start_up_naming_the_variable(child_python):
    result = child_python.run(
        "-c",
        "import django; django.setup()",
        env={
            **os.environ,
            "CACHE_TTL_HTTP": "soon",
            "DJANGO_SETTINGS_MODULE": "streamsite.settings",
        },
    )
    assert result.returncode != 0
    assert "CACHE_TTL_HTTP must be an integer" in result.stderr


def test_an_unknown_purpose_is_a_configuration_error():
    with pytest.raises(Exception, match="CACHE_TTLS has no entry for 'nonsense'"):
        cache.ttl("nonsense")


def test_a_second_read_is_a_hit_and_the_loader_ran_once(namespace):
    loader = Loader({"title": "Alien"})

    first = cache.cached(namespace, "movie", 1, loader=loader, ttl=60)
    second = cache.cached(namespace, "movie", 1, loader=loader, ttl=60)

    assert (first.status, second.status) == ("miss", "hit")
    assert second.value == {"title": "Alien"} and loader.calls == 1
    assert counted(namespace, "hit") == 1 and counted(namespace, "miss") == 1


def test_bumping_a_namespace_invalidates_all_its_keys_and_no_others(namespace):
    other = namespace + "other"
    for name in ("list", "detail"):
        cache.cached(namespace, name, loader=Loader("old"), ttl=60)
    cache.cached(other, "list", loader=Loader("kept"), ttl=60)

    before = cache.version(namespace)
    assert cache.bump(namespace) > before

    assert cache.cached(namespace, "list", loader=Loader("new"), ttl=60).value == "new"
    assert cache.cached(namespace, "detail", loader=Loader("new"), ttl=60).status == "miss"
    assert cache.cached(other, "list", loader=Loader("unused"), ttl=60).status == "hit"


def test_a_lost_version_restarts_above_every_version_used_before(namespace):
    cache.bump(namespace)
    used = cache.bump(namespace)
    cache.delete(f"{namespace}:version")  # evicted under memory pressure

    assert cache.version(namespace) > used


def test_a_database_failure_serves_the_stale_copy_marked_stale(namespace):
    cache.cached(namespace, "movie", 1, loader=Loader("yesterday"), ttl=60)
    cache.bump(namespace)  # an edit: the fresh copy is gone

    result = cache.cached(
        namespace, "movie", 1, loader=fail_with(OperationalError("connection refused")), ttl=60
    )

    assert result.status == "stale" and result.degraded
    assert result.value == "yesterday"
    assert counted(namespace, "stale") == 1


def test_a_failure_with_no_stale_copy_propagates(namespace):
    with pytest.raises(OperationalError):
        cache.cached(namespace, "movie", 2, loader=fail_with(OperationalError("down")), ttl=60)


def test_a_not_found_answer_is_never_papered_over_with_a_stale_copy(namespace):
    cache.cached(namespace, "movie", 3, loader=Loader("published once"), ttl=60)
    cache.bump(namespace)  # unpublished since

    with pytest.raises(Http404):
        cache.cached(namespace, "movie", 3, loader=fail_with(Http404()), ttl=60)


def test_an_undecodable_entry_is_a_miss_and_is_replaced(namespace):
    key = cache.make_key(namespace, "movie", 4)
    backend = caches["default"]
    assert django_settings.REDIS_URL, "the cache tests run against a real Redis (REDIS_URL)"
    raw = backend.client.get_client(write=True)
    raw.set(backend.make_key(key), b"\x80\x05garbage that is not a pickle")
    decode_errors = errors("decode")

    first = cache.cached(namespace, "movie", 4, loader=Loader("reloaded"), ttl=60)
    second = cache.cached(namespace, "movie", 4, loader=Loader("unused"), ttl=60)

    assert (first.status, first.value) == ("miss", "reloaded")
    assert (second.status, second.value) == ("hit", "reloaded")
    assert errors("decode") == decode_errors + 1


def test_an_entry_of_another_shape_is_a_miss_and_is_replaced(namespace):
    cache.set(cache.make_key(namespace, "movie", 5), "a bare string from an older release", 60)

    result = cache.cached(namespace, "movie", 5, loader=Loader("current"), ttl=60)

    assert (result.status, result.value) == ("miss", "current")
    assert cache.cached(namespace, "movie", 5, loader=Loader("unused"), ttl=60).status == "hit"


def test_warming_reloads_entries_that_are_still_fresh(namespace):
    cache.cached(namespace, "home", loader=Loader("v1"), ttl=60)

    with cache.refreshing():
        rewritten = cache.cached(namespace, "home", loader=Loader("v2"), ttl=60)

    assert rewritten.status == "miss"
    assert cache.cached(namespace, "home", loader=Loader("unused"), ttl=60).value == "v2"


def test_a_lock_left_by_a_dead_loader_delays_a_reader_but_never_blocks_it(settings, namespace):
    settings.CACHE_LOCK_WAIT = 0.2
    key = cache.make_key(namespace, "movie", 6)
    cache.set(f"{key}:lock", "token of a process that was killed", 30)

    result = cache.cached(namespace, "movie", 6, loader=Loader("loaded anyway"), ttl=60)

    assert (result.status, result.value) == ("miss", "loaded anyway")


STAMPEDE_CHILD = """
import django, json, os, sys, time
django.setup()
import redis
from streamsite import cache

namespace, counter = sys.argv[1], sys.argv[2]
raw = redis.Redis.from_url(os.environ["REDIS_URL"])
raw.incr(counter + ":ready")
while not raw.exists(counter + ":go"):
    time.sleep(0.005)

def load():
    raw.incr(counter)  # one loader run
    time.sleep(0.5)  # a slow query: the others arrive while it runs
    return "expensive"

result = cache.cached(namespace, "home", loader=load, ttl=60)
print(json.dumps([result.status, result.value]))
"""


def test_one_loader_runs_per_key_across_processes(child_python, namespace):
    """Six processes miss the same key at once: one loads, the others wait for its result."""
    redis_url = django_settings.REDIS_URL
    assert redis_url, "the stampede test needs the shared Redis (REDIS_URL)"
    counter = f"{namespace}:loads"
    raw = caches["default"].client.get_client(write=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "streamsite.settings",
        "REDIS_URL": redis_url,
        "CACHE_LOCK_WAIT": "30",
    }
    children = [
        child_python.start(
            "-c", STAMPEDE_CHILD, namespace, counter, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    for _ in range(600):
        if int(raw.get(f"{counter}:ready") or 0) == len(children):
            break
        time.sleep(0.05)
    raw.set(f"{counter}:go", 1)
    outputs = [json.loads(child.communicate(timeout=60)[0].splitlines()[-1]) for child in children]
    assert int(raw.get(counter)) == 1
    assert sorted(status for status, _ in outputs) == ["hit"] * 5 + ["miss"]
    assert {value for _, value in outputs} == {"expensive"}


@pytest.fixture
def private_redis(settings):
    with redis_process() as server:
        settings.CACHES = server.cache_settings()
        settings.CACHE_OUTAGE_COOLDOWN = 0
        yield server


def test_with_redis_down_the_loader_answers_and_nothing_raises(private_redis, namespace):
    assert cache.cached(namespace, "movie", 7, loader=Loader("first"), ttl=60).status == "miss"
    assert cache.cached(namespace, "movie", 7, loader=Loader("unused"), ttl=60).status == "hit"
    get_errors = errors("get")

    private_redis.stop()

    result = cache.cached(namespace, "movie", 7, loader=Loader("from the database"), ttl=60)
    assert (result.status, result.value) == ("miss", "from the database")
    assert cache.get("anything") is None
    assert cache.set("anything", 1, 60) is False
    assert cache.delete("anything") is False
    assert cache.bump(namespace) == 0
    assert errors("get") > get_errors


def test_after_an_error_the_cache_server_is_left_alone_for_the_cooldown(private_redis, settings):
    settings.CACHE_OUTAGE_COOLDOWN = 60
    private_redis.stop()
    assert cache.get("first") is None
    get_errors = errors("get")

    for _ in range(5):
        assert cache.get("again") is None

    assert errors("get") == get_errors  # no further connection attempts were made


# --- Process-local memory (CACHE_LOCAL_SECONDS) ---------------------------------------------


@pytest.fixture
def local_memory(private_redis, settings):
    settings.CACHE_LOCAL_SECONDS = 30
    cache.clear_local()
    yield settings
    cache.clear_local()


def test_with_local_memory_a_hit_needs_no_round_trip_to_redis(
    local_memory, private_redis, namespace
):
    cache.cached(namespace, "movie", 8, loader=Loader("remembered"), ttl=60)

    private_redis.stop()

    result = cache.cached(namespace, "movie", 8, loader=Loader("unused"), ttl=60)
    assert (result.status, result.value) == ("hit", "remembered")


def test_with_local_memory_an_edit_in_this_process_shows_at_once(local_memory, namespace):
    cache.cached(namespace, "movie", 9, loader=Loader("before"), ttl=60)

    cache.bump(namespace)

    assert cache.cached(namespace, "movie", 9, loader=Loader("after"), ttl=60).value == "after"


def test_with_local_memory_another_process_edit_arrives_within_the_window(
    local_memory, private_redis, namespace, clock
):
    local_memory.CACHE_LOCAL_SECONDS = 0.3
    cache.cached(namespace, "movie", 10, loader=Loader("before"), ttl=60)
    backend = caches["default"]
    # What a bump in another process does: one INCR on the shared version.
    backend.client.get_client(write=True).incr(backend.make_key(f"{namespace}:version"))

    within = cache.cached(namespace, "movie", 10, loader=Loader("after"), ttl=60)
    clock.advance(0.3)
    after = cache.cached(namespace, "movie", 10, loader=Loader("after"), ttl=60)

    assert (within.status, within.value) == ("hit", "before")  # the documented window
    assert (after.status, after.value) == ("miss", "after")


def test_local_memory_keeps_only_the_most_recently_used_entries(
    local_memory, private_redis, namespace
):
    local_memory.CACHE_LOCAL_MAX_ENTRIES = 3  # the namespace version takes one place
    for number in (1, 2, 3):
        cache.cached(namespace, "movie", number, loader=Loader(f"movie {number}"), ttl=60)

    private_redis.stop()

    assert cache.cached(namespace, "movie", 3, loader=Loader("db"), ttl=60).status == "hit"
    assert cache.cached(namespace, "movie", 2, loader=Loader("db"), ttl=60).status == "hit"
    assert cache.cached(namespace, "movie", 1, loader=Loader("db"), ttl=60).value == "db"


# --- bump_on_commit -------------------------------------------------------------------------


@pytest.mark.django_db
def test_bump_on_commit_waits_for_the_commit_so_readers_cannot_refill_from_old_rows(
    namespace, django_capture_on_commit_callbacks
):
    before = cache.version(namespace)

    with django_capture_on_commit_callbacks(execute=True):
        cache.bump_on_commit(namespace, f"{namespace}b")
        assert cache.version(namespace) == before  # still inside the transaction

    assert cache.version(namespace) > before


@pytest.mark.django_db
def test_a_rolled_back_change_bumps_nothing(namespace, django_capture_on_commit_callbacks):
    before = cache.version(namespace)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            cache.bump_on_commit(namespace)
            raise RuntimeError("rolled back")

    assert cache.version(namespace) == before
