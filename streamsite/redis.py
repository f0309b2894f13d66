"""The one way to reach Redis: clients on shared connection pools, and Lua scripts on them.

``client()`` is the redis-py client of a django-redis cache (``default`` unless told), on the
connection pool django-redis already keeps for that URL, so the cache, the progress buffer, the
breakers and the CDN's tag map share its connections. ``for_url()`` is for a Redis that is not a
cache (the shield's, which may be another server with a shorter timeout): one client, and so
one pool, per URL and timeout per process. redis-py pools are thread-safe and reopen their
connections after a fork.

Lua runs as redis-py ``Script`` objects (``EVALSHA``, loading the script again when Redis has
forgotten it): make one once with ``script(SOURCE)`` and call it as
``s(keys=[...], args=[...])``. Check ``streamsite.cache.redis_backed()`` before calling
``client()``: without Redis as the cache there is no client to give.
"""

from __future__ import annotations

import threading

import redis
from django_redis import get_redis_connection
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

_by_url: dict[tuple[str, float | None], redis.Redis] = {}
_by_url_lock = threading.Lock()


def client(alias: str = "default") -> redis.Redis:
    """The redis-py client of cache ``alias`` (a django-redis cache), on its shared pool."""
    return get_redis_connection(alias)


def for_url(url: str, *, timeout: float | None = None) -> redis.Redis:
    """One client per ``url`` and ``timeout`` (connect and read, seconds) per process."""
    found = _by_url.get((url, timeout))
    if found is not None:
        return found
    with _by_url_lock:
        # No retries: a command whose reply was lost may have run (a Lua script counting a
        # request would count it twice). The pool itself reconnects a connection the server
        # closed before a command is sent on it.
        return _by_url.setdefault(
            (url, timeout),
            redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            ),
        )


def script(source: str, *, alias: str = "default") -> Script:
    """``source`` as a redis-py ``Script`` run on ``client(alias)``; pass ``client=`` to run it
    on another client (``for_url``'s)."""
    return client(alias).register_script(source)
