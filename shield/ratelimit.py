"""Sliding-window rate limits on Redis; limits are parsed and named by the ``limits`` library.

A moving window keeps one timestamp per granted request in a Redis list (``limits``' layout)
and grants a new one in a single Lua script, so the decision is atomic across every process and
host: with a limit of 100 per minute exactly 100 requests are granted in any 60 seconds, however
many workers race, and a burst at the end of one minute followed by another at the start of the
next is not granted twice the limit (the flaw of fixed windows). Without Redis (the
single-process demo) ``limits``' own moving window runs in memory.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import Counter

from shield import store
from streamsite import clock
from streamsite.localcache import LocalCache
from streamsite.metrics import RATELIMIT_DECISIONS

# Environment variable behind each entry of settings.RATELIMITS, named in start-up errors.
LIMIT_VARIABLES = {
    "anonymous": "RATELIMIT_ANONYMOUS",
    "free": "RATELIMIT_FREE",
    "premium": "RATELIMIT_PREMIUM",
    "api": "RATELIMIT_API",
    "progress": "RATELIMIT_PROGRESS",
    "login_ip": "RATELIMIT_LOGIN_IP",
    "login_username": "RATELIMIT_LOGIN_USERNAME",
    "signup_ip": "RATELIMIT_SIGNUP_IP",
    "signup_username": "RATELIMIT_SIGNUP_USERNAME",
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the oldest counted request leaves the window

    def reset_after(self, now: float | None = None) -> int:
        """Whole seconds until a slot frees up (at least 1, as Retry-After wants)."""
        return max(1, math.ceil(self.reset_at - (clock.time() if now is None else now)))


@functools.lru_cache(maxsize=64)
def parse_limit(value: str, variable: str = "rate limit") -> RateLimitItem:
    try:
        return parse(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{variable} must look like '60/minute' or '10 per 2 seconds', got {value!r}"
        ) from None


def configured(name: str) -> RateLimitItem:
    """The limit called ``name`` in settings.RATELIMITS (read on each call: tests override it)."""
    return parse_limit(settings.RATELIMITS[name], LIMIT_VARIABLES.get(name, name))


def check_settings() -> None:
    """Parse every configured limit once at start-up so a typo stops the process."""
    for name in LIMIT_VARIABLES:
        configured(name)


@functools.lru_cache(maxsize=8)
def _limiter_for(url: str) -> MovingWindowRateLimiter:
    storage: Storage
    if url:
        pool = store.client().connection_pool
        storage = RedisStorage(url, connection_pool=pool, key_prefix="ratelimit")
    else:
        storage = MemoryStorage()
    return MovingWindowRateLimiter(storage)


def limiter() -> MovingWindowRateLimiter:
    return _limiter_for(store.redis_url())


def forget_limiters() -> None:
    """Start from empty windows: the demo's in-memory ones, and refusals this process recalls."""
    _limiter_for.cache_clear()
    _refusals.clear()


def hit(item: RateLimitItem, key: str) -> Decision:
    """Count one request against ``item`` for ``key``; raises RedisError if Redis is down."""
    strategy = limiter()
    if isinstance(strategy.storage, RedisStorage):
        return _hit_redis(strategy.storage, item, item.key_for(key))
    allowed = strategy.hit(item, key)
    reset_at, remaining = strategy.get_window_stats(item, key)
    return Decision(
        allowed=allowed, limit=item.amount, remaining=max(0, remaining), reset_at=reset_at
    )


# The moving window on Redis, in one script and one round trip: it decides and reads the window
# back, so the headers describe the decision itself. The key and its layout are limits' own (a
# list of grant times, newest first), but limits' scripts find the oldest grant still in the
# window by binary search, each probe an LINDEX that walks the list: for a busy client that is
# most of a request's Redis time. Here grants that have left the window are popped from the tail
# as they expire (each once), so the list holds exactly the window: its length is the count and
# its tail the oldest grant, every step O(1).
# KEYS: the window. ARGV: now, limit, window seconds. Returns {granted, count, oldest or false}.
_ACQUIRE_AND_READ = """
local now, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local oldest = redis.call('LINDEX', KEYS[1], -1)
while oldest and tonumber(oldest) < now - window do
  redis.call('RPOP', KEYS[1])
  oldest = redis.call('LINDEX', KEYS[1], -1)
end
local count = redis.call('LLEN', KEYS[1])
if count >= limit then
  return {0, count, oldest}
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(window))
return {1, count + 1, oldest or ARGV[1]}
"""


def _hit_redis(storage: RedisStorage, item: RateLimitItem, window: str) -> Decision:
    """``MovingWindowRateLimiter.hit`` then ``get_window_stats``, in one atomic Redis call."""
    now, expiry = clock.time(), item.get_expiry()
    granted, count, oldest = store.run(
        _ACQUIRE_AND_READ, keys=[storage.prefixed_key(window)], args=[now, item.amount, expiry]
    )
    return Decision(
        allowed=bool(granted),
        limit=item.amount,
        remaining=max(0, item.amount - int(count)),
        reset_at=float(oldest) + expiry,
    )


@functools.lru_cache(maxsize=64)
def _counter(tier: str, result: str) -> Counter:
    # labels() validates and sorts its arguments on every call; this runs on every API request.
    return RATELIMIT_DECISIONS.labels(tier=tier, result=result)


def _count(tier: str, result: str) -> None:
    _counter(tier, result).inc()


def _fail_open(tier: str, exc: Exception | None = None) -> None:
    if exc is not None:
        store.failed(exc)
    _count(tier, "fail_open")


# limits' key of a window -> its last refusal, while nothing can be granted to it anyway.
_refusals = LocalCache(maxsize=10_000)


def decide(item: RateLimitItem, key: str, *, tier: str) -> Decision | None:
    """Like :func:`hit`, but fails open: None means Redis was unavailable and nothing counted.

    A key refused a moment ago is refused again from this process's memory until its oldest
    counted request leaves the window. Nothing can be granted to it before then, on any
    process, so asking Redis would only cost a round trip, and an abusive client nothing.
    """
    window = item.key_for(key)
    refused = _refusals.get(window)
    if refused is not None:
        _count(tier, "limited")
        return refused
    if store.redis_url() and not store.available():
        _fail_open(tier)
        return None
    try:
        decision = hit(item, key)
    except store.RedisError as exc:
        _fail_open(tier, exc)
        return None
    if not decision.allowed:
        _refusals.set(window, decision, decision.reset_at - clock.time())
    _count(tier, "allowed" if decision.allowed else "limited")
    return decision
