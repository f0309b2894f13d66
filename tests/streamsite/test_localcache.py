"""streamsite.localcache: the one in-process expiring cache."""

from __future__ import annotations

import threading

from streamsite.localcache import LocalCache


def test_a_value_is_kept_for_its_seconds_and_then_forgotten(clock):
    cache = LocalCache(maxsize=10)
    cache.set("provider", "vidking", 30)

    clock.advance(29)
    assert cache.get("provider") == "vidking"

    clock.advance(2)
    assert cache.get("provider") is None
    assert cache.get("provider", "default") == "default"


def test_each_entry_keeps_its_own_lifetime(clock):
    cache = LocalCache(maxsize=10)
    cache.set("short", 1, 5)
    cache.set("long", 2, 60)

    clock.advance(10)

    assert (cache.get("short"), cache.get("long")) == (None, 2)


def test_zero_seconds_stores_nothing_and_drops_the_old_value():
    cache = LocalCache(maxsize=10)
    cache.set("key", "old", 30)

    cache.set("key", "new", 0)

    assert cache.get("key") is None


def test_when_full_the_least_recently_used_entry_goes_first():
    cache = LocalCache(maxsize=2)
    cache.set("a", 1, 60)
    cache.set("b", 2, 60)
    cache.get("a")  # "b" is now the least recently used

    cache.set("c", 3, 60)

    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_pop_and_clear_forget_entries():
    cache = LocalCache(maxsize=10)
    cache.set("a", 1, 60)
    cache.set("b", 2, 60)

    assert cache.pop("a") == 1
    assert cache.pop("a") is None
    cache.clear()
    assert cache.get("b") is None
    assert len(cache) == 0


def test_get_or_set_makes_a_value_once_until_it_expires(clock):
    cache = LocalCache(maxsize=10)
    made: list[int] = []

    def make() -> int:
        made.append(1)
        return len(made)

    assert cache.get_or_set("n", make, 30) == 1
    assert cache.get_or_set("n", make, 30) == 1
    clock.advance(31)
    assert cache.get_or_set("n", make, 30) == 2


def test_a_falsy_value_is_a_hit_not_a_miss():
    cache = LocalCache(maxsize=10)
    calls: list[int] = []
    cache.set("empty", (), 60)

    assert cache.get_or_set("empty", lambda: calls.append(1) or ("made",), 60) == ()
    assert calls == []


def test_threads_reading_and_writing_at_once_never_break_it():
    cache = LocalCache(maxsize=50)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(2_000):
                key = (offset + n) % 80
                cache.set(key, n, 60)
                cache.get(key)
                if n % 7 == 0:
                    cache.pop(key)
        except BaseException as exc:  # noqa: BLE001 - any failure in a thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(cache) <= 50
