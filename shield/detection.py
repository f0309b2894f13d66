"""DDoS and abuse detection: per-IP signals over short windows, checked against thresholds.

Four signals are counted per client IP in Redis, each over its own window (settings
``SHIELD_SIGNALS``, e.g. ``"300/10 seconds"``): requests, 4xx responses, distinct missing
paths (scanning) and failed logins. The first signal to go over its threshold blocks the IP
(see :mod:`shield.services`); signals are not summed, so an honest viewer is only ever caught
by clearly exceeding one of them.

Cost per request: at most one Redis round trip before any view runs, a Lua call that both
reads the block and adds the client's requests to its count. Each process talks to Redis about
a given client at most every ``SHIELD_CHECK_SECONDS`` or every ``SHIELD_COUNT_BATCH`` requests,
whichever comes first, counting in memory in between; so a client blocked by another instance
is refused here within a second, and a flood is caught within its threshold plus one batch per
process. Error responses cost one more round trip after the view (counted at once: scans are
caught exactly at their threshold). A block seen in Redis is remembered in-process for
``SHIELD_BLOCK_CACHE_SECONDS``, so a blocked flood costs no Redis traffic at all.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from django.conf import settings
from limits import RateLimitItem

from shield import client_ip, local_blocks, services, store
from shield.local_blocks import Blocked
from shield.models import Reason
from shield.ratelimit import parse_limit
from streamsite import clock

# Setting key and environment variable of each signal's threshold.
SIGNAL_VARIABLES = {
    Reason.REQUEST_RATE: "SHIELD_REQUEST_RATE",
    Reason.ERROR_RATE: "SHIELD_ERROR_RATE",
    Reason.MISSING_PATHS: "SHIELD_MISSING_PATHS",
    Reason.FAILED_LOGINS: "SHIELD_FAILED_LOGINS",
}
# Longer paths are cut: the set of distinct missing paths must stay small whatever is sent.
_MAX_PATH = 200

_OBSERVE_REQUEST = """
local reason = redis.call('GET', KEYS[1])
if reason then
    return {reason, redis.call('PTTL', KEYS[1])}
end
local count = redis.call('INCRBY', KEYS[2], ARGV[2])
if count == tonumber(ARGV[2]) then
    redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return {false, count}
"""

_OBSERVE_ERROR = """
local errors = redis.call('INCR', KEYS[1])
if errors == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
local missing = 0
if ARGV[3] ~= '' then
    redis.call('SADD', KEYS[2], ARGV[3])
    if redis.call('TTL', KEYS[2]) < 0 then
        redis.call('EXPIRE', KEYS[2], ARGV[2])
    end
    missing = redis.call('SCARD', KEYS[2])
end
return {errors, missing}
"""

_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""


# --- Settings -------------------------------------------------------------------------------


def threshold(reason: Reason) -> RateLimitItem:
    """The signal's threshold (``amount``) and window (``get_expiry()`` seconds)."""
    return parse_limit(settings.SHIELD_SIGNALS[reason.value], SIGNAL_VARIABLES[reason])


def check_settings() -> None:
    for reason in SIGNAL_VARIABLES:
        threshold(reason)


@functools.lru_cache(maxsize=4096)
def _allowlisted(ip: str, networks: tuple[client_ip.Network, ...]) -> bool:
    address = client_ip.parse_ip(ip)
    return address is not None and client_ip.in_networks(address, networks)


def allowlisted(ip: str) -> bool:
    """Addresses in SHIELD_ALLOWLIST are never counted nor blocked."""
    return _allowlisted(ip, tuple(settings.SHIELD_ALLOWLIST))


# --- Requests counted in memory between Redis checks ----------------------------------------

# ip -> [requests not yet sent to Redis, monotonic time of the last Redis check]
_pending: dict[str, list[float]] = {}
_pending_lock = threading.Lock()
_PENDING_MAX_IPS = 10_000


def _take_pending(ip: str, weight: int) -> int | None:
    """Count a request from ``ip`` as ``weight`` (0 or 1); returns how many to report to Redis
    now, or None when no check is due yet. A check is due every SHIELD_COUNT_BATCH counted
    requests and every SHIELD_CHECK_SECONDS, so uncounted ones still learn of a block."""
    now = clock.monotonic()
    with _pending_lock:
        entry = _pending.get(ip)
        if entry is None:
            if len(_pending) >= _PENDING_MAX_IPS:
                _pending.clear()  # costs a few extra round trips, never a missed block
            _pending[ip] = [0, now]
            return weight
        entry[0] += weight
        if (
            entry[0] < settings.SHIELD_COUNT_BATCH
            and now - entry[1] < settings.SHIELD_CHECK_SECONDS
        ):
            return None
        taken, entry[0], entry[1] = int(entry[0]), 0, now
        return taken


def _forget_pending(ip: str) -> None:
    # The next request from a blocked client goes to Redis again, whatever the batching says.
    with _pending_lock:
        _pending.pop(ip, None)


def forget_pending() -> None:
    with _pending_lock:
        _pending.clear()


# --- Observation ----------------------------------------------------------------------------


def observe_request(ip: str, *, accountable: Callable[[], bool] | None = None) -> Blocked | None:
    """Count a request from ``ip``; a Blocked result means refuse it.

    ``accountable()`` (asked only once the address is known not to be blocked) says the
    request names a client that answers for its own traffic: a valid API key, held to its
    tier's limit wherever it comes from. Such requests are not counted toward the request rate
    of their address, which an integration may exceed well within its limit; they are still
    refused while the address is blocked.
    """
    remembered = local_blocks.recall(ip)
    if remembered is not None:
        return remembered
    if not store.available():
        return None
    count = _take_pending(ip, 0 if accountable is not None and accountable() else 1)
    if count is None:
        return None
    keys = services.keys_for(ip)
    limit = threshold(Reason.REQUEST_RATE)
    try:
        reason, value = store.run(
            _OBSERVE_REQUEST, keys=[keys.block, keys.requests], args=[limit.get_expiry(), count]
        )
    except store.RedisError as exc:
        store.failed(exc)
        return None
    if reason is not None:
        blocked = Blocked(reason=reason.decode(), expires_at=clock.time() + int(value) / 1000)
        local_blocks.remember(ip, blocked)
        _forget_pending(ip)
        return blocked
    if int(value) > limit.amount:
        return _block(ip, Reason.REQUEST_RATE, int(value), limit)
    return None


def observe_error(ip: str, path: str, status: int) -> Blocked | None:
    """Count a 4xx answered to ``ip``; a 404 also adds ``path`` to its distinct missing paths."""
    if not store.available():
        return None
    errors_limit = threshold(Reason.ERROR_RATE)
    missing_limit = threshold(Reason.MISSING_PATHS)
    keys = services.keys_for(ip)
    try:
        errors, missing = store.run(
            _OBSERVE_ERROR,
            keys=[keys.errors, keys.missing],
            args=[
                errors_limit.get_expiry(),
                missing_limit.get_expiry(),
                path[:_MAX_PATH] if status == 404 else "",
            ],
        )
    except store.RedisError as exc:
        store.failed(exc)
        return None
    if int(missing) > missing_limit.amount:
        return _block(ip, Reason.MISSING_PATHS, int(missing), missing_limit)
    if int(errors) > errors_limit.amount:
        return _block(ip, Reason.ERROR_RATE, int(errors), errors_limit)
    return None


def record_failed_login(ip: str) -> Blocked | None:
    """Count a failed sign-in from ``ip`` (called by the login view)."""
    if not settings.SHIELD_ENABLED or allowlisted(ip) or not store.available():
        return None
    limit = threshold(Reason.FAILED_LOGINS)
    try:
        count = store.run(_COUNT, keys=[services.keys_for(ip).logins], args=[limit.get_expiry()])
    except store.RedisError as exc:
        store.failed(exc)
        return None
    if int(count) > limit.amount:
        return _block(ip, Reason.FAILED_LOGINS, int(count), limit)
    return None


def _block(ip: str, reason: Reason, count: int, limit: RateLimitItem) -> Blocked | None:
    evidence = {"count": count, "threshold": limit.amount, "window_seconds": limit.get_expiry()}
    try:
        duration = services.block(ip=ip, reason=reason, evidence=evidence)
    except store.RedisError as exc:
        store.failed(exc)
        return None
    if duration is None:
        return None  # another worker blocked it a moment ago; the next request will see it
    blocked = Blocked(reason=reason.value, expires_at=clock.time() + duration)
    local_blocks.remember(ip, blocked)
    _forget_pending(ip)
    return blocked
