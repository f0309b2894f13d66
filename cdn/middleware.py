"""Cache tags on every public answer, and the self-hosted edge's map of them.

Answers cached by ``streamsite.http_cache`` carry their tags already. Other public answers
(generated artwork) get the tags of the rows loaded while they were made. And when our own
nginx edge fetched the answer (it names the request URI it stores it under), the tags and that
URI go into the edge's map (``cdn.providers.nginx``), since the edge can only purge exact URIs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from streamsite import edge_tags

log = logging.getLogger(__name__)

_MAX_AGE = re.compile(r"(?:^|[,\s])(s-maxage|max-age)=(\d+)")
_NOT_SHARED = ("private", "no-store", "no-cache")


def shared_lifetime(response: HttpResponse) -> int:
    """Seconds a shared cache may keep ``response``: s-maxage, else max-age; 0 if it may not."""
    control = response.get("Cache-Control", "").lower()
    if response.status_code != 200 or "public" not in control:
        return 0
    if any(word in control for word in _NOT_SHARED) or response.cookies:
        return 0
    ages = dict(_MAX_AGE.findall(control))
    return int(ages.get("s-maxage", ages.get("max-age", 0)))


class EdgeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        with edge_tags.collecting() as tags:
            response = self.get_response(request)
        lifetime = shared_lifetime(response)
        if not lifetime:
            return response
        if edge_tags.HEADER not in response and tags:
            response[edge_tags.HEADER] = edge_tags.header(tags)
        uri = request.META.get("HTTP_X_EDGE_REQUEST_URI")
        if uri and settings.CDN_PROVIDER == "nginx" and edge_tags.HEADER in response:
            from cdn.providers import nginx

            try:
                nginx.record(uri, edge_tags.parse(response[edge_tags.HEADER]), lifetime)
            except Exception as exc:  # Redis down: the answer goes out, but not into the edge
                log.warning("edge tag map not updated for %s: %s", uri, exc)
                # A copy no purge could reach must not be kept: nginx reads this header first
                # (and never passes it on), browsers never see it.
                response["X-Accel-Expires"] = "0"
        return response
