"""The one place for caching: key naming, TTLs, namespace versions, stampede-safe loading, stale
fallback and hit/miss metrics.

Keys read ``<namespace>:v<version>:<name>:<args>``, e.g. ``catalog:v1732540000123456:movie:42``.
Bumping a namespace's version makes every key of it unreachable at once, so one edit
invalidates every list, page and detail that may show it without knowing which ones do.

``cached()`` keeps two copies of each value: the fresh one under the versioned key, living for
the purpose's TTL, and a stale one under a version-less key living much longer. The stale copy is
served (and marked) only when loading fails on the infrastructure: a database that is down is
better answered with yesterday's catalog than with an error page.

A hit costs one Redis round trip (a Lua script reads the version and the entry together), or
none with CACHE_LOCAL_SECONDS > 0, where each process also remembers what it read for that
long; an edit then reaches the other processes within that window.

Nothing here raises when the cache server itself is down: every operation logs, counts in
``streamsite_cache_errors_total`` and behaves as a miss, so callers fall through to their loader.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import DatabaseError, transaction
from django.dispatch import receiver
from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted
from redis.commands.core import Script
from redis.exceptions import RedisError

from streamsite import clock, metrics
from streamsite import redis as project_redis
from streamsite.localcache import LocalCache
from streamsite.outage import Backoff

log = logging.getLogger(__name__)

T = TypeVar("T")
Status = Literal["hit", "miss", "stale"]

# The cache server is down, refused the connection or timed out.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (RedisError, ConnectionInterrupted, OSError)
# Loader failures for which a stale copy beats an error: the database or the network is down.
# Answers such as "not found" or "invalid parameter" are not among them, so they are never
# papered over with an old copy.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, OSError)

# Arguments longer than this (query strings, search terms) are hashed so keys stay short.
_MAX_ARG_LENGTH = 64
# How often a request waiting for another process's loader looks for its result.
_POLL_SECONDS = 0.02

_refreshing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "streamsite_cache_refreshing", default=False
)
# An unreachable Redis costs one timeout per cool-down instead of several per request.
_backoff = Backoff("cache", fallback="serving without the cache", logger=log)


@dataclass(frozen=True)
class Cached(Generic[T]):
    value: T
    status: Status

    @property
    def degraded(self) -> bool:
        return self.status == "stale"


@dataclass(frozen=True)
class _Entry:
    """What is stored: the value and when it was loaded (for the age of stale copies)."""

    value: Any
    stored_at: float
    fresh_until: float = 0.0  # wall clock; entries stored before this field count as expired


# --- TTLs and keys --------------------------------------------------------------------------


def ttl(purpose: str) -> int:
    """Seconds an entry for ``purpose`` stays fresh (settings.CACHE_TTLS, env CACHE_TTL_<X>)."""
    try:
        return int(settings.CACHE_TTLS[purpose])
    except KeyError:
        raise ImproperlyConfigured(
            f"CACHE_TTLS has no entry for {purpose!r}; add it in settings.py"
        ) from None


_purpose_ttl = ttl  # cached() has a parameter of the same name


def make_key(namespace: str, name: str, *args: object) -> str:
    """``<namespace>:v<version>:<name>:<args>``: the key of the namespace's current version."""
    return _compose(namespace, f"v{version(namespace)}", name, args)


def _stale_key(namespace: str, name: str, args: tuple[object, ...]) -> str:
    # No version: a stale copy must survive the bumps that happen while the database is down.
    return _compose(namespace, "stale", name, args)


def _compose(namespace: str, tag: str, name: str, args: tuple[object, ...]) -> str:
    return ":".join([namespace, tag, name, *(_key_part(arg) for arg in args)])


def _key_part(arg: object) -> str:
    text = str(arg)
    if len(text) > _MAX_ARG_LENGTH or not text.isprintable() or " " in text:
        return "h" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return text


# --- Namespace versions ---------------------------------------------------------------------


def _version_key(namespace: str) -> str:
    return f"{namespace}:version"


def version(namespace: str) -> int:
    """The namespace's current version, created on first use."""
    key = _version_key(namespace)
    remembered = _recall(key)
    if remembered is not None:
        return remembered
    current = _read_version(key)
    _remember(key, current, float(settings.CACHE_LOCAL_SECONDS))
    return current


def _read_version(key: str) -> int:
    current = get(key)
    if _is_version(current):
        return current
    # First use, or the version was evicted or overwritten: start from the clock in
    # microseconds, so a restart never lands on a number whose keys may still be alive (that
    # would take more than a million bumps a second).
    initial = time.time_ns() // 1_000
    if current is not None:
        set(key, initial, None)  # a corrupt version is replaced, not trusted
        return initial
    if add(key, initial, None) is not False:
        return initial
    winner = get(key)  # another process created it first
    return winner if _is_version(winner) else initial


def bump(namespace: str) -> int:
    """Invalidate every key of the namespace at once. Returns the new version, 0 on an outage."""
    version(namespace)
    backend = _backend()
    if _backoff.is_down():
        metrics.CACHE_ERRORS.labels(operation="bump").inc()
        log.error("cache namespace %s not bumped: the cache server is unavailable", namespace)
        return 0
    try:
        new = int(backend.incr(_version_key(namespace)))
    except ValueError:  # evicted between the two calls: a fresh clock-based version will do
        _forget(_version_key(namespace))
        return version(namespace)
    except OUTAGE_ERRORS as exc:
        _outage("bump", exc)
        log.error("cache namespace %s not bumped: %s", namespace, exc)
        return 0
    # This process sees its own edit at once, whatever CACHE_LOCAL_SECONDS says.
    _remember(_version_key(namespace), new, float(settings.CACHE_LOCAL_SECONDS))
    log.debug("cache namespace %s is now at v%d", namespace, new)
    return new


def bump_on_commit(*namespaces: str, using: str | None = None) -> None:
    """Bump ``namespaces`` once the current transaction on ``using`` commits (at once outside
    one); a rolled-back change bumps nothing.

    What signals call on a change: bumping before the commit would let a reader refill the
    cache from the rows as they were before it, under the new version, until the TTL ends.
    """

    def bump_all() -> None:
        for namespace in namespaces:
            bump(namespace)

    transaction.on_commit(bump_all, using=using)


def _is_version(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- Thin operations that never raise on an outage ------------------------------------------


def get(key: str) -> Any | None:
    """The stored value, or None when absent, undecodable or the cache server is down."""
    try:
        return _safely("get", None, lambda backend: backend.get(key))
    except Exception as exc:  # garbage bytes can fail to unpickle in any way
        return _undecodable(key, exc)


def set(key: str, value: Any, ttl: int | None) -> bool:
    """Store ``value`` for ``ttl`` seconds (None: no expiry). False if it could not be stored."""
    _forget(key)

    def store(backend: BaseCache) -> bool:
        backend.set(key, value, ttl)
        return True

    return _safely("set", False, store)


def delete(key: str) -> bool:
    _forget(key)
    return _safely("delete", False, lambda backend: bool(backend.delete(key)))


def add(key: str, value: Any, ttl: int | float | None) -> bool | None:
    """Store only if absent (SET NX on Redis): False if present, None when the cache server is
    unavailable."""
    return _safely("add", None, lambda backend: bool(backend.add(key, value, ttl)))


def _safely(operation: str, default: T, call: Callable[[BaseCache], T]) -> T:
    """``call(backend)``, or ``default`` while the cache server is down or when it fails."""
    if _backoff.is_down():
        return default
    try:
        return call(_backend())
    except OUTAGE_ERRORS as exc:
        _outage(operation, exc)
        return default


def _backend() -> BaseCache:
    return caches["default"]


def redis_backed() -> bool:
    """Whether the default cache is Redis, so shared state (breakers, the progress buffer) can
    live there. Asks the backend itself, so instrumented subclasses count too."""
    return isinstance(_backend(), RedisCache)


def server_stats() -> dict[str, Any] | None:
    """Redis's ``INFO stats`` (hits and misses among them), or None when the cache is not
    Redis or cannot be reached (the admin dashboard's cache tile)."""
    if not redis_backed():
        return None
    return _safely("info", None, lambda backend: dict(backend.client.get_client().info("stats")))


def _outage(operation: str, exc: BaseException) -> None:
    metrics.CACHE_ERRORS.labels(operation=operation).inc()
    _backoff.failed(exc)


def _undecodable(key: str, exc: Exception) -> None:
    metrics.CACHE_ERRORS.labels(operation="decode").inc()
    log.warning("cache entry %s cannot be decoded (%s); treated as a miss", key, exc)


# --- Loading through the cache --------------------------------------------------------------


@contextlib.contextmanager
def refreshing() -> Iterator[None]:
    """Inside this block ``cached()`` reloads and rewrites entries instead of reading them.

    Cache warming runs in it, so a warm run pushes expiry forward rather than finding the
    entries it is meant to renew.
    """
    token = _refreshing.set(True)
    try:
        yield
    finally:
        _refreshing.reset(token)


def cached(
    namespace: str,
    name: str,
    *args: object,
    loader: Callable[[], T],
    ttl: int | None = None,
    purpose: str | None = None,
    stale_on: tuple[type[BaseException], ...] = INFRASTRUCTURE_ERRORS,
) -> Cached[T]:
    """The value under ``<namespace>:v<N>:<name>:<args>``, loading it on a miss.

    One process at a time runs the loader for a key (a lock in the cache server); the others
    wait up to CACHE_LOCK_WAIT seconds for its result, then serve the stale copy or load
    themselves. A loader failing with one of ``stale_on`` is answered with the stale copy
    (status "stale") when there is one; other exceptions propagate untouched.
    """
    if not settings.CACHE_ENABLED:
        return _counted(namespace, Cached(loader(), "miss"))
    lifetime = ttl if ttl is not None else _purpose_ttl(purpose or namespace)
    key, entry = _lookup(namespace, name, args)
    stale_key = _stale_key(namespace, name, args)
    if entry is not None and not _refreshing.get():
        return _counted(namespace, Cached(entry.value, "hit"))

    lock_key = f"{key}:lock"
    token = uuid.uuid4().hex
    lock = add(lock_key, token, float(settings.CACHE_LOCK_TIMEOUT))
    if lock is False:  # another process is loading this key right now
        entry = _wait_for(key, lock_key)
        if entry is not None:
            return _counted(namespace, Cached(entry.value, "hit"))
        stale = _entry(get(stale_key))
        if stale is not None:
            _log_stale(key, stale, "another process is still loading it")
            return _counted(namespace, Cached(stale.value, "stale"))
    try:
        try:
            value = loader()
        except stale_on as exc:
            stale = _entry(get(stale_key))
            if stale is None:
                raise
            _log_stale(key, stale, f"{type(exc).__name__}: {exc}")
            return _counted(namespace, Cached(stale.value, "stale"))
        now = clock.time()
        entry = _Entry(value, stored_at=now, fresh_until=now + lifetime)
        if set(key, entry, lifetime):
            set(stale_key, entry, max(lifetime, int(settings.CACHE_STALE_TTL)))
            _remember_entry(key, entry)
    finally:
        if lock:
            _release(lock_key, token)
    return _counted(namespace, Cached(value, "miss"))


def peek(namespace: str, name: str, *args: object) -> Cached[Any] | None:
    """The fresh entry ``cached()`` would return as a hit, else None (and nothing counted).

    For fast paths placed in front of expensive machinery: they answer a hit themselves and
    leave everything else (misses, locks, stale copies) to ``cached()`` further in.
    """
    if not settings.CACHE_ENABLED or _refreshing.get():
        return None
    _, entry = _lookup(namespace, name, args)
    if entry is None:
        return None
    return _counted(namespace, Cached(entry.value, "hit"))


def stale(namespace: str, name: str, *args: object) -> Cached[Any] | None:
    """The stale copy ``cached()`` would answer with if its loader failed now, else None.

    For callers that know the loader would fail before trying it (the database's circuit is
    open) and would fail earlier than the loader does (authenticating an API key).
    """
    if not settings.CACHE_ENABLED:
        return None
    entry = _entry(get(_stale_key(namespace, name, args)))
    if entry is None:
        return None
    _log_stale(_stale_key(namespace, name, args), entry, "the database is unreachable")
    return _counted(namespace, Cached(entry.value, "stale"))


# Reads a namespace's version and the entry under it in one round trip: a hit is most of the
# traffic, and two sequential round trips were most of its cost.
_VERSIONED_GET = """
local version = redis.call('GET', KEYS[1])
if not version then return false end
return {version, redis.call('GET', ARGV[1] .. version .. ARGV[2])}
"""
_VERSION_MARK = "\x00"
_versioned_get: Script | None = None


def _lookup(namespace: str, name: str, args: tuple[object, ...]) -> tuple[str, _Entry | None]:
    """The current key of ``name(args)`` and its entry, if there is a readable one."""
    known_version = _recall(_version_key(namespace))
    if known_version is not None:
        key = _compose(namespace, f"v{known_version}", name, args)
        entry = _recall(key)
        if entry is None:
            entry = _entry(get(key))
            _remember_entry(key, entry)
        return key, entry
    backend = _backend()
    if isinstance(backend, RedisCache) and not _backoff.is_down():
        found = _lookup_in_redis(backend, namespace, name, args)
        if found is not None:
            return found
    key = make_key(namespace, name, *args)
    entry = _entry(get(key))
    _remember_entry(key, entry)
    return key, entry


def _lookup_in_redis(
    backend: RedisCache, namespace: str, name: str, args: tuple[object, ...]
) -> tuple[str, _Entry | None] | None:
    """None when this cannot answer (no version yet, an outage): the caller takes the slow path."""
    template = backend.make_key(_compose(namespace, f"v{_VERSION_MARK}", name, args))
    before, mark, after = template.partition(_VERSION_MARK)
    if not mark:  # a KEY_FUNCTION that does not keep our key readable: no splicing possible
        return None
    global _versioned_get
    try:
        if _versioned_get is None:
            _versioned_get = project_redis.script(_VERSIONED_GET)
        found = _versioned_get(
            keys=[backend.make_key(_version_key(namespace))],
            args=[before, after],
            client=backend.client.get_client(write=False),
        )
    except OUTAGE_ERRORS as exc:
        _outage("get", exc)
        return None
    if not found:
        return None
    version, raw = found
    if not version.isdigit():  # not ours: version() replaces it on the slow path
        return None
    _remember(_version_key(namespace), int(version), float(settings.CACHE_LOCAL_SECONDS))
    key = _compose(namespace, f"v{int(version)}", name, args)
    if raw is None:
        return key, None
    try:
        entry = _entry(backend.client.decode(raw))
    except Exception as exc:  # garbage bytes can fail to unpickle in any way
        return key, _undecodable(key, exc)
    _remember_entry(key, entry)
    return key, entry


# --- Process-local memory (CACHE_LOCAL_SECONDS) ---------------------------------------------
# Versions and entries this process read recently, so a hit needs no network round trip, which
# on a busy host costs as much as serving a whole small request. Off (0 s) by default: every
# read then asks Redis, and an edit is seen by every process at once.

_local = LocalCache(maxsize=settings.CACHE_LOCAL_MAX_ENTRIES)


@receiver(setting_changed)
def _resize_local(*, setting: str, **kwargs: Any) -> None:
    global _local
    if setting == "CACHE_LOCAL_MAX_ENTRIES":
        _local = LocalCache(maxsize=settings.CACHE_LOCAL_MAX_ENTRIES)


def clear_local() -> None:
    """Forget what this process remembers (tests; after restoring a Redis snapshot)."""
    _local.clear()


def _recall(key: str) -> Any | None:
    return _local.get(key) if len(_local) else None


def _remember(key: str, value: Any, seconds: float) -> None:
    if seconds > 0:
        _local.set(key, value, seconds)


def _remember_entry(key: str, entry: _Entry | None) -> None:
    if entry is not None:
        seconds = min(float(settings.CACHE_LOCAL_SECONDS), entry.fresh_until - clock.time())
        _remember(key, entry, seconds)


def _forget(key: str) -> None:
    if len(_local):
        _local.pop(key)


def _entry(raw: object) -> _Entry | None:
    # Anything else under our key (an old format, a stray write) is a miss and gets replaced.
    return raw if isinstance(raw, _Entry) else None


def _wait_for(key: str, lock_key: str) -> _Entry | None:
    deadline = clock.monotonic() + float(settings.CACHE_LOCK_WAIT)
    while clock.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        entry = _entry(get(key))
        if entry is not None:
            return entry
        if get(lock_key) is None:  # the loader is done: it stored its result, or it failed
            return _entry(get(key))
    return None


def _release(lock_key: str, token: str) -> None:
    # Only our own lock: if it expired and another process took it, that one is not ours to free.
    if get(lock_key) == token:
        delete(lock_key)


def _log_stale(key: str, stale: _Entry, reason: str) -> None:
    age = clock.time() - stale.stored_at
    log.warning("serving a stale copy of %s (%.0f s old): %s", key, age, reason)


def _counted(namespace: str, result: Cached[T]) -> Cached[T]:
    metrics.CACHE_REQUESTS.labels(namespace=namespace, result=result.status).inc()
    return result
