"""The shield's Redis, and how the shield steps aside when it fails.

Rate-limit windows, detection counters and blocks live in Redis (``SHIELD_REDIS_URL``, the
cache's server unless set) so that every process on every host enforces the same numbers. The
shield reaches it through ``streamsite.redis.for_url``: one client per process on redis-py's
thread-safe pool, which reconnects a connection the server has closed before sending on it,
and never sends a command again once it went out. So a Lua script that ran but whose reply
was lost is not run a second time (it would count the request twice); the request is let
through instead. Scripts run as redis-py ``Script`` objects (``EVALSHA``, loaded again when
Redis has forgotten them: only then is a command sent again, as it never ran).

When Redis is unreachable the shield fails open: requests are served uncounted, and its
``Backoff`` (``streamsite.outage``) leaves Redis alone for ``CACHE_OUTAGE_COOLDOWN`` seconds,
so a Redis that hangs costs one timeout per process per cool-down, logging a warning now and
then.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis
from django.conf import settings
from redis.commands.core import Script

from streamsite import redis as project_redis
from streamsite.outage import Backoff

logger = logging.getLogger("streamsite.shield")

RedisError = redis.exceptions.RedisError

backoff = Backoff(
    "shield", fallback="failing open (requests are neither limited nor blocked)", logger=logger
)
_scripts: dict[str, Script] = {}


def redis_url() -> str:
    return settings.SHIELD_REDIS_URL


def client() -> redis.Redis:
    return project_redis.for_url(redis_url(), timeout=settings.SHIELD_REDIS_TIMEOUT)


def available() -> bool:
    """False while backing off after a failure; callers then fail open without trying."""
    return bool(redis_url()) and not backoff.is_down()


def failed(exc: Exception) -> None:
    backoff.failed(exc)


def recover() -> None:
    """Forget a previous failure (tests, and an operator who just restarted Redis)."""
    backoff.recovered()


def run(source: str, *, keys: Sequence[str], args: Sequence[str | int | float]) -> Any:
    """Run the Lua script ``source`` atomically in Redis and return its reply.

    Raises RedisError like any redis-py call, without having sent the script twice.
    """
    shield_redis = client()
    script = _scripts.get(source)
    if script is None:
        script = _scripts.setdefault(source, shield_redis.register_script(source))
    return script(keys=keys, args=args, client=shield_redis)
