"""Reads on PostgreSQL read replicas, writes on the primary, and read-your-writes.

Each URL of ``DATABASE_REPLICA_URLS`` is a database alias (``replica_1``, …) behind
``ReplicaRouter``. A read goes to a replica when all of these hold, and to the primary otherwise:

* it is made while answering a request (``ReadYourWritesMiddleware`` marks it): background
  tasks, commands and the shell read what they write, so they stay on the primary;
* no transaction is open on the primary: what a transaction reads stays in it;
* the viewer has not written in the last ``DATABASE_READ_YOUR_WRITES_SECONDS``: whoever saves a
  position, a key or a movie sees it on the next page, whichever instance serves it;
* the replica answers and its replay is at most ``DATABASE_REPLICA_MAX_LAG`` seconds behind,
  as measured every ``DATABASE_REPLICA_CHECK_SECONDS`` per process (``replica_states``).

A replica that stops answering between two checks is found out when a request takes a
connection to it: the read goes to the primary and the replica is skipped until a check finds
it well again. Replicas have no circuit breaker of their own, and never feed the primary's.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponse

from streamsite import clock, metrics

logger = logging.getLogger(__name__)

# A replica's lag, from the replica alone: 0 while it has replayed all it received (an idle
# primary writes nothing to catch up on), else the age of the last transaction it replayed.
LAG_QUERY = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() "
    "OR pg_last_wal_receive_lsn() IS NULL "
    "OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)
_CACHE_PREFIX = "db:ryw:"


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith("replica_")]


# --- Replica health -------------------------------------------------------------------------


@dataclass
class ReplicaState:
    usable: bool = True
    lag_seconds: float | None = None
    error: str = ""
    checked_at: float = 0.0  # clock.monotonic(); 0: never checked


_states: dict[str, ReplicaState] = {}
_check_lock = threading.Lock()


def replica_states(*, refresh: bool = False) -> dict[str, ReplicaState]:
    """Every replica's state, measured again when older than DATABASE_REPLICA_CHECK_SECONDS.

    One thread measures at a time; the others go on with the last state instead of waiting
    (a replica that hangs costs its connect timeout to one request per check, not to all).
    """
    aliases = replica_aliases()
    now = clock.monotonic()
    stale = [
        alias
        for alias in aliases
        if refresh
        or now - _states.get(alias, ReplicaState()).checked_at
        >= settings.DATABASE_REPLICA_CHECK_SECONDS
    ]
    if stale and _check_lock.acquire(blocking=refresh or not _states):
        try:
            for alias in stale:
                _states[alias] = _measure(alias)
        finally:
            _check_lock.release()
    return {alias: _states.get(alias, ReplicaState(usable=False)) for alias in aliases}


def _measure(alias: str) -> ReplicaState:
    checked_at = clock.monotonic()
    try:
        lag = _lag(alias)
    except psycopg.Error as exc:
        logger.warning("replica %s skipped: %s", alias, str(exc).strip()[:200])
        metrics.DATABASE_REPLICA_LAG.labels(alias=alias).set(-1)
        metrics.DATABASE_REPLICA_USABLE.labels(alias=alias).set(0)
        return ReplicaState(usable=False, error=str(exc).strip()[:200], checked_at=checked_at)
    usable = lag <= settings.DATABASE_REPLICA_MAX_LAG
    if not usable:
        logger.warning("replica %s skipped: %.1f s behind the primary", alias, lag)
    metrics.DATABASE_REPLICA_LAG.labels(alias=alias).set(lag)
    metrics.DATABASE_REPLICA_USABLE.labels(alias=alias).set(int(usable))
    return ReplicaState(usable=usable, lag_seconds=round(lag, 3), checked_at=checked_at)


def _lag(alias: str) -> float:
    # A connection of its own, outside the pool, closed after: a replica that refuses
    # connections is found out at once, where the pool would wait its timeout retrying, and no
    # idle session is left on the replica (one connection every few seconds costs nothing).
    params = connections[alias].get_connection_params()
    keep = ("dbname", "user", "password", "host", "port", "options", "sslmode")
    with psycopg.connect(
        **{key: params[key] for key in keep if params.get(key) is not None},
        connect_timeout=params.get("connect_timeout", 2),
        autocommit=True,
    ) as checker:
        row = checker.execute(LAG_QUERY).fetchone()
    return float(row[0]) if row else 0.0


def mark_unusable(alias: str, error: str) -> None:
    """A request could not reach the replica: skip it until the next check finds it well."""
    with _check_lock:
        _states[alias] = ReplicaState(usable=False, error=error[:200], checked_at=clock.monotonic())
    metrics.DATABASE_REPLICA_USABLE.labels(alias=alias).set(0)


# --- Read-your-writes -----------------------------------------------------------------------

# Set by the middleware for the length of a request: whether reads may go to a replica, whether
# this request wrote, and the replica its reads went to.
_request_reads: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "replica_reads", default=None
)


def _viewer_keys(request: HttpRequest, response: HttpResponse | None = None) -> list[str]:
    """What identifies the viewer on its next request: the session cookie (the one this answer
    sets too: a sign-in), the API key, the playback token. Hashed: never stored as is."""
    values = [
        request.COOKIES.get(settings.SESSION_COOKIE_NAME, ""),
        request.META.get("HTTP_AUTHORIZATION", ""),
        request.META.get("HTTP_X_PROGRESS_TOKEN", ""),
    ]
    if response is not None and settings.SESSION_COOKIE_NAME in response.cookies:
        values.append(response.cookies[settings.SESSION_COOKIE_NAME].value)
    return [
        _CACHE_PREFIX + hashlib.sha256(value.encode()).hexdigest()[:32] for value in values if value
    ]


class ReadYourWritesMiddleware:
    """Lets a request's reads go to replicas, unless its viewer wrote a moment ago; remembers
    (in the cache, shared by every instance) the viewers whose request wrote."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.enabled = bool(replica_aliases())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self.enabled:
            return self.get_response(request)
        replica = not _wrote_recently(_viewer_keys(request))
        scope: dict[str, Any] = {"replica": replica, "wrote": False, "used": set()}
        response = self._answer(request, scope)
        failed = [alias for alias in scope["used"] if connections[alias].errors_occurred]
        if failed and not scope["wrote"] and request.method in ("GET", "HEAD", "OPTIONS"):
            # A replica went away during this read (its connection was good when taken), or
            # refused a query (a conflict with recovery): the answer is an error or a stale
            # copy. A read can be made again, on the primary.
            for alias in failed:
                mark_unusable(alias, "a query failed")
                connections[alias].close()
                logger.warning("replica %s failed mid-request: read again on the primary", alias)
            response = self._answer(request, {"replica": False, "wrote": False, "used": set()})
        if scope["wrote"] and settings.DATABASE_READ_YOUR_WRITES_SECONDS:
            _remember_writer(_viewer_keys(request, response))
        return response

    def _answer(self, request: HttpRequest, scope: dict[str, Any]) -> HttpResponse:
        token = _request_reads.set(scope)
        try:
            return self.get_response(request)
        finally:
            _request_reads.reset(token)


def _wrote_recently(keys: list[str]) -> bool:
    if not keys:
        return False
    try:
        return bool(cache.get_many(keys))
    except Exception:  # a cache outage must not fail the request
        logger.warning("read-your-writes: the cache is unavailable, reads stay on the primary")
        return True


def _remember_writer(keys: list[str]) -> None:
    if not keys:
        return
    try:
        cache.set_many(dict.fromkeys(keys, 1), timeout=settings.DATABASE_READ_YOUR_WRITES_SECONDS)
    except Exception:  # the cache's own errors are counted by streamsite.cache's callers
        logger.warning("read-your-writes: the cache is unavailable, a writer was not remembered")


@contextmanager
def primary_reads() -> Iterator[None]:
    """Read from the primary in this block, whatever the request may do."""
    token = _request_reads.set(None)
    try:
        yield
    finally:
        _request_reads.reset(token)


# --- The router -----------------------------------------------------------------------------


class ReplicaRouter:
    def db_for_read(self, model: type, **hints: Any) -> str:
        alias = self._read_alias(hints)
        metrics.DATABASE_READS.labels(alias=alias).inc()
        return alias

    def _read_alias(self, hints: dict[str, Any]) -> str:
        scope = _request_reads.get()
        if not scope or not scope["replica"]:
            return DEFAULT_DB_ALIAS
        instance = hints.get("instance")
        if instance is not None and instance._state.db == DEFAULT_DB_ALIAS:
            return DEFAULT_DB_ALIAS  # a relation of a row read from, or written to, the primary
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        usable = [alias for alias, state in replica_states().items() if state.usable]
        while usable:
            alias = random.choice(usable)  # noqa: S311 (spreading load, not a secret)
            try:
                connections[alias].ensure_connection()
            except DatabaseError as exc:
                mark_unusable(alias, str(exc))
                logger.warning("replica %s unreachable, reading from the primary: %s", alias, exc)
                usable.remove(alias)
                continue
            scope["used"].add(alias)
            return alias
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: type, **hints: Any) -> str:
        scope = _request_reads.get()
        if scope is not None:
            # From now on this request, and its viewer's next few, read from the primary.
            scope["wrote"] = True
            scope["replica"] = False
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # replicas hold the primary's rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS  # replicas get the schema through replication


# --- Health ---------------------------------------------------------------------------------


def check_replicas() -> dict[str, Any]:
    """For /api/health: each replica's lag and use. A replica out of use is degraded, not a
    failure: the primary serves its reads."""
    aliases = replica_aliases()
    if not aliases:
        return {"status": "ok", "detail": "no replicas configured"}
    states = replica_states(refresh=True)
    replicas = {
        alias: {
            "usable": state.usable,
            "lag_seconds": state.lag_seconds,
            **({"error": state.error} if state.error else {}),
        }
        for alias, state in states.items()
    }
    usable = all(state.usable for state in states.values())
    return {
        "status": "ok" if usable else "degraded",
        "max_lag_seconds": settings.DATABASE_REPLICA_MAX_LAG,
        "replicas": replicas,
    }
