"""Outbound HTTP for every external service: one pooled session, timeouts, retries, breakers.

Each external service (TMDb, each streaming provider, the CDN) has one small client module that
calls :func:`request` with its ``service`` name and a breaker from :func:`get_breaker`. Nothing
else in the project imports ``requests``.

Circuit breaker
    CLOSED: calls go through; consecutive failed calls are counted and a success resets the
    count. At ``failure_threshold`` the circuit OPENS: calls fail fast with
    :class:`CircuitOpenError` and no network I/O. After ``reset_timeout`` seconds it is
    HALF_OPEN: exactly one caller (across all processes) gets to probe; the others keep failing
    fast. A successful probe closes the circuit, a failed one re-opens it for another
    ``reset_timeout``. While OPEN, late results of calls that started before it opened are
    ignored: only a probe decides.

    With django-redis as the default cache the state is a Redis hash changed only by Lua
    scripts (atomic, and timed by the Redis clock so instances with skewed clocks agree).
    Without Redis, or while Redis is unreachable, each process keeps its own state with the same
    rules. No lock is held while a call runs, so a slow call never delays another thread.

Retries
    Only idempotent methods are retried, on connection errors, timeouts, 5xx and 429, with
    exponential backoff and full jitter (``uniform(0, min(cap, base * 2**n))``), or the
    server's ``Retry-After`` (capped) when it sends one. After the last attempt a 5xx or 429
    response is *returned* (not raised), so the client module can map it to its own error; the
    breaker has already counted it as a failure. Other 4xx responses are the caller's problem,
    not the service's: they are returned at once and count as a success for the breaker.
    Network errors after the last attempt are raised as the ``requests`` exception.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, stop_after_attempt

from streamsite import cache, clock, metrics
from streamsite import redis as project_redis
from streamsite.outage import Backoff

logger = logging.getLogger(__name__)

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
_STATE_GAUGE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)

# Abandoned breakers (a provider deleted from the admin) disappear from Redis after a day.
_REDIS_KEY_TTL_MS = 86_400_000


class CircuitOpenError(Exception):
    """The circuit is open (or a probe is already in flight): the call was not attempted."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"circuit {name!r} is open; next attempt in {retry_after:.1f}s")
        self.name = name
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Decision:
    allowed: bool
    state: str
    retry_after: float = 0.0


class _Store(Protocol):
    def acquire(self, *, reset_timeout: float, probe_seconds: float) -> _Decision: ...
    def success(self) -> str: ...
    def failure(self, *, threshold: int) -> str: ...
    def reset(self) -> None: ...
    def read(self, *, reset_timeout: float) -> dict[str, Any]: ...


class _LocalStore:
    """Per-process breaker state; the lock guards a few assignments, never a network call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        # Wall-clock seconds, like the Redis store, so snapshots look the same either way.
        self._opened_at: float | None = None
        self._probe_until = 0.0

    def acquire(self, *, reset_timeout: float, probe_seconds: float) -> _Decision:
        now = clock.time()
        with self._lock:
            if self._state == CLOSED:
                return _Decision(True, CLOSED)
            if self._state == OPEN:
                wait = (self._opened_at or now) + reset_timeout - now
                if wait > 0:
                    return _Decision(False, OPEN, wait)
                self._state = HALF_OPEN
            elif self._probe_until > now:
                return _Decision(False, HALF_OPEN, self._probe_until - now)
            self._probe_until = now + probe_seconds
            return _Decision(True, HALF_OPEN)

    def success(self) -> str:
        with self._lock:
            if self._state != OPEN:
                self._state, self._failures, self._opened_at = CLOSED, 0, None
            return self._state

    def failure(self, *, threshold: int) -> str:
        now = clock.time()
        with self._lock:
            if self._state == OPEN:
                return OPEN
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= threshold:
                self._state, self._opened_at = OPEN, now
            return self._state

    def reset(self) -> None:
        with self._lock:
            self._state, self._failures, self._opened_at = CLOSED, 0, None

    def read(self, *, reset_timeout: float) -> dict[str, Any]:
        with self._lock:
            return _snapshot(self._state, self._failures, self._opened_at, reset_timeout)


# Times are Redis server milliseconds (TIME), so every instance reads the same clock.
_LUA_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] = hash; ARGV = reset_ms, probe_ms, key_ttl_ms -> {allowed 0/1, state, retry_after_ms}
_LUA_ACQUIRE = (
    _LUA_NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return {1, state, 0} end
if state == 'open' then
  local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at_ms') or now)
  local wait = opened + tonumber(ARGV[1]) - now
  if wait > 0 then return {0, state, wait} end
else
  local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until_ms') or 0)
  if probe_until > now then return {0, state, probe_until - now} end
end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until_ms', now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, 'half_open', 0}
"""
)

# KEYS[1] = hash -> state
_LUA_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'open' then return state end
if state == 'closed' and (tonumber(redis.call('HGET', KEYS[1], 'failures') or 0) == 0) then
  return state
end
redis.call('DEL', KEYS[1])
return 'closed'
"""

# KEYS[1] = hash; ARGV = threshold, key_ttl_ms -> state
_LUA_FAILURE = (
    _LUA_NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'open' then return state end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'half_open' or failures >= tonumber(ARGV[1]) then
  state = 'open'
  redis.call('HSET', KEYS[1], 'state', state, 'opened_at_ms', now)
  redis.call('HDEL', KEYS[1], 'probe_until_ms')
else
  redis.call('HSET', KEYS[1], 'state', state)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return state
"""
)


class _RedisStore:
    """Breaker state shared by every process through one Redis hash per breaker."""

    def __init__(self, name: str) -> None:
        self.key = f"streamsite:circuit:{name}"
        self._client = project_redis.client()
        self._acquire = project_redis.script(_LUA_ACQUIRE)
        self._success = project_redis.script(_LUA_SUCCESS)
        self._failure = project_redis.script(_LUA_FAILURE)

    def acquire(self, *, reset_timeout: float, probe_seconds: float) -> _Decision:
        allowed, state, retry_after_ms = self._acquire(
            keys=[self.key],
            args=[_ms(reset_timeout), _ms(probe_seconds), _REDIS_KEY_TTL_MS],
        )
        return _Decision(bool(allowed), _text(state), int(retry_after_ms) / 1000)

    def success(self) -> str:
        return _text(self._success(keys=[self.key]))

    def failure(self, *, threshold: int) -> str:
        return _text(self._failure(keys=[self.key], args=[threshold, _REDIS_KEY_TTL_MS]))

    def reset(self) -> None:
        self._client.delete(self.key)

    def read(self, *, reset_timeout: float) -> dict[str, Any]:
        fields = {_text(k): _text(v) for k, v in self._client.hgetall(self.key).items()}
        opened_ms = fields.get("opened_at_ms")
        return _snapshot(
            fields.get("state", CLOSED),
            int(fields.get("failures", 0)),
            int(opened_ms) / 1000 if opened_ms else None,
            reset_timeout,
        )


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _snapshot(
    state: str, failures: int, opened_at: float | None, reset_timeout: float
) -> dict[str, Any]:
    # An open circuit whose reset timeout has passed admits the next caller as a probe, so
    # report it as half-open: a resolver that skips open circuits must still try this one.
    if state == OPEN and opened_at is not None and clock.time() >= opened_at + reset_timeout:
        state = HALF_OPEN
    return {"state": state, "failures": failures, "opened_at": opened_at}


def _redis_backed() -> bool:
    return cache.redis_backed()


class CircuitBreaker:
    """One circuit per external dependency; see the module docstring for the rules.

    ``shared=False`` keeps the state in this process only (the database's breaker, which is
    asked on most requests and must not itself depend on Redis).
    """

    def __init__(
        self, name: str, *, failure_threshold: int, reset_timeout: float, shared: bool = True
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._local = _LocalStore()
        self._redis: _RedisStore | None = _RedisStore(name) if shared and _redis_backed() else None
        # After Redis fails, per-process state for the cool-down before trying Redis again, so
        # an outage costs one connect timeout per cool-down instead of one per outbound call.
        self._redis_backoff = Backoff(
            f"circuit {name}", fallback="using per-process state", logger=logger
        )

    def state(self) -> str:
        return str(self.snapshot()["state"])

    def retry_after(self) -> float:
        """Seconds until an open circuit lets a probe through; the reset timeout otherwise."""
        snap = self.snapshot()
        if snap["state"] == OPEN and snap["opened_at"] is not None:
            return max(0.0, snap["opened_at"] + self.reset_timeout - clock.time())
        return self.reset_timeout

    def snapshot(self) -> dict[str, Any]:
        snap = self._run(lambda store: store.read(reset_timeout=self.reset_timeout))
        self._publish(snap["state"])
        return snap

    def before_call(self) -> None:
        probe_seconds = float(settings.CIRCUIT_PROBE_SECONDS)
        decision = self._run(
            lambda store: store.acquire(
                reset_timeout=self.reset_timeout, probe_seconds=probe_seconds
            )
        )
        self._publish(decision.state)
        if not decision.allowed:
            raise CircuitOpenError(self.name, decision.retry_after)

    def record_success(self) -> None:
        self._publish(self._run(lambda store: store.success()))

    def record_failure(self) -> None:
        state = self._run(lambda store: store.failure(threshold=self.failure_threshold))
        self._publish(state)

    def reset(self) -> None:
        self._run(lambda store: store.reset())
        self._local.reset()
        self._publish(CLOSED)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Run the block through the breaker: any exception it raises counts as a failure."""
        if not breakers_enabled():
            yield
            return
        self.before_call()
        try:
            yield
        except Exception:
            self.record_failure()
            raise
        self.record_success()

    def _run(self, operation: Any) -> Any:
        """Apply ``operation`` to the shared store, or to this process's while Redis is down."""
        if self._redis is None or self._redis_backoff.is_down():
            return operation(self._local)
        try:
            return operation(self._redis)
        except Exception as exc:  # any Redis failure: the breaker must not fail the call
            self._redis_backoff.failed(exc)
            return operation(self._local)

    def _publish(self, state: str) -> None:
        metrics.CIRCUIT_STATE.labels(provider=self.name.removeprefix("provider:")).set(
            _STATE_GAUGE_VALUE[state]
        )


_registry: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def get_breaker(name: str) -> CircuitBreaker:
    """The process-wide breaker for ``name``, configured from settings on first use."""
    with _registry_lock:
        breaker = _registry.get(name)
        if breaker is None:
            breaker = CircuitBreaker(
                name,
                failure_threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
                reset_timeout=settings.CIRCUIT_RESET_SECONDS,
            )
            _registry[name] = breaker
        return breaker


DATABASE = "database"


def database_breaker() -> CircuitBreaker:
    """The database's breaker (streamsite/postgresql): connection attempts feed it, and while
    it is open nothing waits for the database.

    Its state is this process's own: every request that touches the database asks it, so it
    must cost no round trip (and must not depend on Redis, which may be down too), and each
    process finds out in its first failed attempt anyway.
    """
    breaker = _registry.get(DATABASE)
    if breaker is not None:
        return breaker
    with _registry_lock:
        return _registry.setdefault(
            DATABASE,
            CircuitBreaker(
                DATABASE,
                failure_threshold=settings.DATABASE_CIRCUIT_FAILURE_THRESHOLD,
                reset_timeout=settings.DATABASE_CIRCUIT_RESET_SECONDS,
                shared=False,
            ),
        )


def breakers_enabled() -> bool:
    return bool(getattr(settings, "CIRCUIT_BREAKERS_ENABLED", True))


_session: requests.Session | None = None
_session_pid: int | None = None
_session_lock = threading.Lock()


def session() -> requests.Session:
    """The process's pooled session (re-created after a fork: sockets must not be shared)."""
    global _session, _session_pid
    with _session_lock:
        if _session is None or _session_pid != os.getpid():
            _session = requests.Session()
            # Retries are ours (with backoff and breaker accounting), never urllib3's.
            adapter = HTTPAdapter(
                pool_connections=settings.OUTBOUND_POOL_SIZE,
                pool_maxsize=settings.OUTBOUND_POOL_SIZE,
                max_retries=0,
            )
            _session.mount("http://", adapter)
            _session.mount("https://", adapter)
            _session_pid = os.getpid()
        return _session


@receiver(setting_changed)
def _forget_configuration(*, setting: str, **kwargs: Any) -> None:
    """Settings overrides (tests, benchmarks) rebuild breakers and the session from scratch."""
    global _session
    prefixes = ("CIRCUIT_", "DATABASE_CIRCUIT_", "OUTBOUND_POOL")
    if setting.startswith(prefixes) or setting == "CACHES":
        with _registry_lock:
            _registry.clear()
        with _session_lock:
            _session = None


def full_jitter_delay(retry: int, *, base: float, cap: float) -> float:
    """Delay before retry number ``retry`` (0-based): uniform in [0, min(cap, base * 2**retry)]."""
    return random.uniform(0, min(cap, base * 2**retry))  # noqa: S311 - jitter, not crypto


def backoff_delays(attempts: int, *, base: float, cap: float) -> list[float]:
    """The delays a call with ``attempts`` attempts would sleep between them (one fewer)."""
    return [full_jitter_delay(n, base=base, cap=cap) for n in range(attempts - 1)]


def retry_after_seconds(response: requests.Response) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or HTTP-date), or None when absent or bad."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - clock.time())


_ERRNO_MESSAGE = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def failure_reason(exc: requests.RequestException) -> str:
    """A short cause for people: ``Connection refused``, not urllib3's paragraph (which holds
    the URL, and so any key in its query string)."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    found = _ERRNO_MESSAGE.search(str(exc))
    if found:
        return found.group(1).strip()
    if "RemoteDisconnected" in str(exc) or "BadStatusLine" in str(exc):
        return "the answer was not HTTP"
    if isinstance(exc, requests.ConnectionError):
        return "the connection failed"
    return type(exc).__name__


def _is_retryable_response(response: requests.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def _outcome(result: requests.Response | BaseException) -> str:
    if isinstance(result, requests.Timeout):
        return "timeout"
    if isinstance(result, requests.ConnectionError):
        return "connection_error"
    if isinstance(result, BaseException):
        return "error"
    if result.status_code == 429:
        return "rate_limited"
    if result.status_code >= 500:
        return "server_error"
    if result.status_code >= 400:
        return "client_error"
    return "success"


def _wait(retry_state: RetryCallState) -> float:
    outcome = retry_state.outcome
    if outcome is not None and not outcome.failed:
        retry_after = retry_after_seconds(outcome.result())
        if retry_after is not None:
            return min(retry_after, float(settings.OUTBOUND_RETRY_AFTER_CAP))
    return full_jitter_delay(
        retry_state.attempt_number - 1,
        base=float(settings.OUTBOUND_BACKOFF_BASE),
        cap=float(settings.OUTBOUND_BACKOFF_CAP),
    )


def _should_retry(retry_state: RetryCallState) -> bool:
    outcome = retry_state.outcome
    if outcome is None:
        return False
    if outcome.failed:
        return isinstance(outcome.exception(), RETRYABLE_ERRORS)
    return _is_retryable_response(outcome.result())


def _log_retry(service: str, method: str, url: str) -> Any:
    # DEBUG: retries are routine and counted in metrics. Only the exception's type is logged,
    # because its text holds the full URL, query string (and so any API key) included.
    def log(retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        if outcome is None:
            return
        if outcome.failed:
            what = type(outcome.exception()).__name__
        else:
            # Discarded: release its connection to the pool even when the caller streams.
            outcome.result().close()
            what = f"HTTP {outcome.result().status_code}"
        sleep = retry_state.next_action.sleep if retry_state.next_action else 0.0
        logger.debug(
            "%s %s %s: attempt %d failed (%s); retrying in %.2fs",
            service,
            method,
            url,
            retry_state.attempt_number,
            what,
            sleep,
        )

    return log


def request(
    method: str,
    url: str,
    *,
    service: str,
    timeout: tuple[float, float] | None = None,
    breaker: CircuitBreaker | None = None,
    max_attempts: int | None = None,
    **kwargs: Any,
) -> requests.Response:
    """Send one logical request with timeouts, retries and the breaker; see the module docs.

    Raises :class:`CircuitOpenError` (nothing sent) or the last ``requests`` exception.
    """
    method = method.upper()
    connect, read = timeout or (settings.OUTBOUND_CONNECT_TIMEOUT, settings.OUTBOUND_READ_TIMEOUT)
    attempts = max_attempts or settings.OUTBOUND_MAX_ATTEMPTS
    if method not in IDEMPOTENT_METHODS:
        attempts = 1  # a retried POST could charge twice / create twice
    guarded = breaker is not None and breakers_enabled()

    if guarded:
        try:
            breaker.before_call()
        except CircuitOpenError:
            metrics.OUTBOUND_REQUESTS.labels(service=service, outcome="circuit_open").inc()
            raise

    def attempt() -> requests.Response:
        started = time.perf_counter()
        try:
            response = session().request(method, url, timeout=(connect, read), **kwargs)
        except requests.RequestException as exc:
            _observe(service, exc, started)
            raise
        _observe(service, response, started)
        return response

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=_wait,
        retry=_should_retry,
        reraise=True,
        # Out of attempts on a 5xx/429: hand the response back instead of tenacity's RetryError.
        retry_error_callback=lambda state: state.outcome.result(),
        before_sleep=_log_retry(service, method, url.split("?", 1)[0]),
    )
    try:
        response = retrying(attempt)
    except Exception:
        if guarded:
            breaker.record_failure()
        raise
    if guarded:
        if _is_retryable_response(response):
            breaker.record_failure()
        else:
            breaker.record_success()
    return response


def _observe(service: str, result: requests.Response | BaseException, started: float) -> None:
    metrics.OUTBOUND_REQUEST_SECONDS.labels(service=service).observe(time.perf_counter() - started)
    metrics.OUTBOUND_REQUESTS.labels(service=service, outcome=_outcome(result)).inc()
