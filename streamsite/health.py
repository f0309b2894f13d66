"""Health endpoints for load balancers and operators.

``GET /api/health/live`` answers as long as the process serves requests and touches nothing
else: a liveness probe must not restart a healthy web process because the database is down.

``GET /api/health`` checks the dependencies and answers ``ok`` (200), ``degraded`` (200: still
serving, something needs attention) or ``fail`` (503: take this instance out of rotation)::

    database  fail when unreachable: almost every request needs it
    replicas  each read replica's lag and use; degraded while one is skipped (down, or behind
              by more than DATABASE_REPLICA_MAX_LAG): the primary serves its reads
    redis     degraded when unreachable: rate limits fail open, progress goes straight to the
              database, the cache misses
    broker    degraded when unreachable: background work waits, requests are still served
    disk      degraded below HEALTH_DISK_DEGRADED_PERCENT free, fail below
              HEALTH_DISK_FAIL_PERCENT (uploads and transcodes would break)
    memory    degraded below HEALTH_MEMORY_DEGRADED_PERCENT of memory available
    circuits  degraded while a provider's circuit breaker is open (its sources are skipped)

The result is computed at most once per ``HEALTH_CACHE_SECONDS`` per process, so a load
balancer polling every second from several places costs one round of checks per second.
"""

from __future__ import annotations

import functools
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from streamsite import redis as project_redis
from streamsite.db_router import check_replicas
from streamsite.localcache import LocalCache

logger = logging.getLogger(__name__)

OK, DEGRADED, FAIL = "ok", "degraded", "fail"
_RANK = {OK: 0, DEGRADED: 1, FAIL: 2}
Check = dict[str, Any]

_reports = LocalCache(maxsize=1)
_lock = threading.Lock()


# Load balancers and uptime checkers probe with any of these; HEAD gets the status alone.
PROBE_METHODS = ("GET", "HEAD", "OPTIONS")


def probe(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """GET and HEAD run the view; OPTIONS says which methods are answered, checking nothing.

    Load balancers poll probes: the shield never limits, counts or blocks them (the view's
    ``shield_bucket`` mark, ``shield.decorators``).
    """

    @functools.wraps(view)
    def answer(request: HttpRequest) -> HttpResponse:
        if request.method == "OPTIONS":
            response = HttpResponse()
            response["Allow"] = ", ".join(PROBE_METHODS)
            return response
        return view(request)

    checked = never_cache(require_http_methods(PROBE_METHODS)(answer))
    checked.shield_bucket = "probe"  # type: ignore[attr-defined]
    return checked


@probe
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": OK})


@probe
def health(request: HttpRequest) -> JsonResponse:
    report = cached_report()
    return JsonResponse(report, status=503 if report["status"] == FAIL else 200)


def cached_report() -> dict[str, Any]:
    with _lock:
        # Under the lock on purpose: concurrent polls wait for one round of checks instead
        # of each running their own against a struggling database.
        return _reports.get_or_set("report", report, settings.HEALTH_CACHE_SECONDS)


def forget_report() -> None:
    _reports.clear()


def report() -> dict[str, Any]:
    checks = {name: _run(check) for name, check in CHECKS.items()}
    status = max((c["status"] for c in checks.values()), key=_RANK.__getitem__)
    return {"status": status, "checks": checks}


def _run(check: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # a health check must report, never raise
        logger.warning("health check %s failed: %s", check.__name__, exc)
        result = {"status": FAIL, "error": f"{type(exc).__name__}: {exc}"[:200]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": OK, "vendor": connection.vendor}


def _ping(url: str) -> None:
    project_redis.for_url(url, timeout=settings.HEALTH_TIMEOUT_SECONDS).ping()


def check_redis() -> Check:
    if not settings.REDIS_URL:
        return {"status": OK, "detail": "not configured (local-memory cache)"}
    try:
        _ping(settings.REDIS_URL)
    except redis.RedisError as exc:
        return {"status": DEGRADED, "error": str(exc)[:200]}
    return {"status": OK}


def check_broker() -> Check:
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or url.startswith("memory://"):
        return {"status": OK, "detail": "tasks run in the web process"}
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            _ping(url)
        except redis.RedisError as exc:
            return {"status": DEGRADED, "error": str(exc)[:200]}
        return {"status": OK}
    from kombu import Connection

    with Connection(url, connect_timeout=settings.HEALTH_TIMEOUT_SECONDS) as conn:
        try:
            conn.ensure_connection(max_retries=1)
        except Exception as exc:  # kombu raises transport-specific errors
            return {"status": DEGRADED, "error": str(exc)[:200]}
    return {"status": OK}


def check_disk() -> Check:
    usage = shutil.disk_usage(settings.MEDIA_ROOT if settings.MEDIA_ROOT.exists() else "/")
    free_percent = round(usage.free / usage.total * 100, 1)
    status = OK
    if free_percent < settings.HEALTH_DISK_FAIL_PERCENT:
        status = FAIL
    elif free_percent < settings.HEALTH_DISK_DEGRADED_PERCENT:
        status = DEGRADED
    return {"status": status, "free_percent": free_percent}


def check_memory() -> Check:
    meminfo = _meminfo()
    if not meminfo:
        return {"status": OK, "detail": "not measurable on this platform"}
    available_percent = round(meminfo["MemAvailable"] / meminfo["MemTotal"] * 100, 1)
    status = DEGRADED if available_percent < settings.HEALTH_MEMORY_DEGRADED_PERCENT else OK
    return {"status": status, "available_percent": available_percent}


def _meminfo() -> dict[str, int]:
    try:
        with open("/proc/meminfo") as lines:
            fields = dict(line.split(":", 1) for line in lines)
        return {name: int(fields[name].split()[0]) for name in ("MemTotal", "MemAvailable")}
    except (OSError, KeyError, ValueError):
        return {}


def check_circuits() -> Check:
    try:
        names = _breaker_names()
    except DatabaseError:
        # The database check reports the outage itself; breakers cannot be listed meanwhile.
        return {"status": DEGRADED, "detail": "providers unreadable while the database is down"}
    if names is None:
        return {"status": OK, "detail": "no providers configured"}
    from streamsite.resilience import get_breaker

    states = {name: get_breaker(name).state() for name in names}
    open_names = sorted(name for name, state in states.items() if state == "open")
    return {"status": DEGRADED if open_names else OK, "states": states, "open": open_names}


# Functions that name the circuit breakers in use, registered by the apps that own them
# (streaming: its enabled providers'), as this module may import no app.
_breaker_sources: list[Callable[[], Iterable[str]]] = []


def register_breakers(source: Callable[[], Iterable[str]]) -> None:
    """``source()`` names breakers the circuits check reports (it may query the database)."""
    if source not in _breaker_sources:
        _breaker_sources.append(source)


def _breaker_names() -> list[str] | None:
    """Breaker names of the registered sources, or None when nothing registered any."""
    if not _breaker_sources:
        return None
    with transaction.atomic():  # a failed read must not break the caller's transaction
        return [name for source in _breaker_sources for name in source()]


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "replicas": check_replicas,
    "redis": check_redis,
    "broker": check_broker,
    "disk": check_disk,
    "memory": check_memory,
    "circuits": check_circuits,
}
