"""Request metrics and the ``/metrics`` endpoint Prometheus scrapes.

Under gunicorn (``PROMETHEUS_MULTIPROC_DIR`` set, see deploy/gunicorn.conf.py) ``/metrics`` adds
up the figures of every worker of the instance, whichever worker answers the scrape.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from streamsite import metrics
from streamsite.api import json_error
from streamsite.disk import observe_disk_free

# Anything else is folded into "other" so a client cannot mint label values.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """In-flight requests and latency by route (the URL pattern's name, never the raw path)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        metrics.INFLIGHT_REQUESTS.inc()
        try:
            response = self.get_response(request)
        finally:
            metrics.INFLIGHT_REQUESTS.dec()
        metrics.REQUEST_SECONDS.labels(
            route=_route(request),
            method=request.method if request.method in _METHODS else "other",
        ).observe(time.perf_counter() - started)
        return response


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"  # 404s of unknown paths, and requests refused before routing
    return match.view_name or match.route or "unnamed"


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _may_scrape(request):
        return json_error(
            403,
            "forbidden",
            "Metrics are served to the allowed networks, or with the metrics bearer token.",
        )
    observe_disk_free()
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


# Prometheus polls it: never limited, counted or blocked by the shield (shield.decorators).
metrics_view.shield_bucket = "probe"  # type: ignore[attr-defined]


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    # A request relayed by a proxy says nothing trustworthy about its origin through its peer
    # address (nginx is on the allowed network too): only the token lets it in.
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in network for network in settings.METRICS_ALLOWED_NETWORKS)
