"""The Redis connection shared by rate limiting and DDoS detection, and how they fail open.

Rate-limit windows, detection counters and blocks live in Redis so that every gunicorn worker
on every host enforces the same numbers. When Redis is unreachable the shield steps aside:
requests are served, a warning is logged (at most every ``_LOG_EVERY`` seconds per process, a
dead Redis must not flood the logs) and, for ``_PAUSE`` seconds, no further attempt is made,
so a Redis that hangs instead of refusing costs one timeout per process per pause, not one per
request.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

import redis
from django.conf import settings
from redis.commands.core import Script

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


def script(source: str) -> Script:
    """A Lua script bound to the current client (EVALSHA, loading it again if Redis forgot)."""
    return _script(redis_url(), source)


@functools.lru_cache(maxsize=32)
def _script(url: str, source: str) -> Script:
    return client().register_script(source)
