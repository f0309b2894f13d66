"""The Redis connection shared by rate limiting and DDoS detection, and how they fail open.

Rate-limit windows, detection counters and blocks live in Redis so that every gunicorn worker
on every host enforces the same numbers. When Redis is unreachable the shield steps aside:
requests are served, a warning is logged (at most every ``_LOG_EVERY`` seconds per process, a
dead Redis must not flood the logs) and, for ``_PAUSE`` seconds, no further attempt is made,
so a Redis that hangs instead of refusing costs one timeout per process per pause, not one per
request.

Every API request runs one of the Lua scripts below, so :func:`run` skips what a redis-py
client does around a command (taking a pooled connection and polling it for stray data,
retries, observability hooks): each thread sends ``EVALSHA`` on a connection of its own and
reads the reply, using redis-py's own connection class for the protocol, timeouts and TLS. A
call then costs less than half the CPU (bench/shield.py measures the whole shield).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
from django.conf import settings
from redis.connection import AbstractConnection
from redis.exceptions import NoScriptError

logger = logging.getLogger("streamsite.shield")

RedisError = redis.exceptions.RedisError

_PAUSE = 1.0
_LOG_EVERY = 30.0
_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()
_state = {"paused_until": 0.0, "logged_at": float("-inf")}


def redis_url() -> str:
    return settings.SHIELD_REDIS_URL


def client() -> redis.Redis:
    """One client (and connection pool) per URL per process; redis-py pools are thread-safe."""
    url = redis_url()
    found = _clients.get(url)
    if found is None:
        with _lock:
            found = _clients.get(url)
            if found is None:
                timeout = settings.SHIELD_REDIS_TIMEOUT
                found = redis.Redis.from_url(
                    url, socket_timeout=timeout, socket_connect_timeout=timeout
                )
                _clients[url] = found
    return found


def available() -> bool:
    """False while pausing after a failure; callers then fail open without trying."""
    return bool(redis_url()) and time.monotonic() >= _state["paused_until"]


def failed(component: str, exc: Exception) -> None:
    """Record a Redis failure: pause attempts briefly and log once in a while."""
    now = time.monotonic()
    _state["paused_until"] = now + _PAUSE
    if now - _state["logged_at"] >= _LOG_EVERY:
        _state["logged_at"] = now
        logger.warning(
            "shield %s: Redis unavailable, failing open (requests are not limited): %s",
            component,
            exc,
        )


def recover() -> None:
    """Forget a previous failure (tests, and an operator who just restarted Redis)."""
    _state["paused_until"] = 0.0
    _state["logged_at"] = float("-inf")


# --- Scripts on a connection per thread -----------------------------------------------------

_local = threading.local()


def run(source: str, *, keys: Sequence[str], args: Sequence[str | int | float]) -> Any:
    """Run the Lua script ``source`` atomically in Redis and return its reply.

    ``EVALSHA`` on this thread's connection; a Redis that does not know the script (restarted,
    flushed) is sent it once with ``SCRIPT LOAD``. Raises RedisError like any redis-py call.
    """
    return start(source, keys=keys, args=args).reply()


def start(source: str, *, keys: Sequence[str], args: Sequence[str | int | float]) -> Call:
    """Send the script now and read its reply later, with :meth:`Call.reply`.

    Redis runs the script while this thread does other work that waits anyway (a database
    query), so the two waits overlap. The reply must be read before this thread runs another
    script.
    """
    call = Call(_connection(), source, ("EVALSHA", _digest(source), len(keys), *keys, *args))
    call.send()
    return call


class Call:
    """A script sent on this thread's connection whose reply has not been read yet."""

    def __init__(self, connection: AbstractConnection, source: str, command: tuple[Any, ...]):
        self.connection, self.source, self.command = connection, source, command
        self.was_open = connection.is_connected

    def send(self) -> None:
        try:
            self.connection.send_command(*self.command)
        except redis.ConnectionError:
            if not self.was_open:
                raise
            self._retry_once()
            self.connection.send_command(*self.command)

    def reply(self) -> Any:
        try:
            try:
                return self.connection.read_response()
            except redis.ConnectionError:
                if not self.was_open:
                    raise
                self._retry_once()
                return _roundtrip(self.connection, self.command)
        except NoScriptError:
            _roundtrip(self.connection, ("SCRIPT", "LOAD", self.source))
            return _roundtrip(self.connection, self.command)

    def _retry_once(self) -> None:
        # The server closed an idle connection (a restart, a client timeout) and the command
        # never reached it: once more, on a fresh connection, and only once.
        self.was_open = False


@functools.cache
def _digest(source: str) -> str:
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


def _roundtrip(connection: AbstractConnection, command: tuple[Any, ...]) -> Any:
    # Both calls connect when needed and disconnect on a socket error or timeout, so a failed
    # call leaves the connection ready to reconnect.
    connection.send_command(*command)
    return connection.read_response()


def _connection() -> AbstractConnection:
    """This thread's connection to the shield's Redis (connected on first use)."""
    # Only the current server's connection is kept (tests point the shield elsewhere), and one
    # inherited across a fork belongs to the parent process.
    owner = (redis_url(), os.getpid())
    held: tuple[tuple[str, int], AbstractConnection] | None = getattr(_local, "held", None)
    if held is not None and held[0] == owner:
        return held[1]
    pool = client().connection_pool
    connection = pool.connection_class(**pool.connection_kwargs)
    _local.held = (owner, connection)
    return connection
