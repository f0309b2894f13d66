"""The project's URLs plus views that declare their buckets under paths of their own (test-only)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_safe

from shield.decorators import EXEMPT, PROGRESS, rate_limit
from streamsite.urls import handler404, handler500
from streamsite.urls import urlpatterns as project_patterns

__all__ = ["handler404", "handler500", "urlpatterns"]


@rate_limit(PROGRESS)
@require_safe
def player_ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@rate_limit(EXEMPT)
def open_data(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def undeclared(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [
    path("api/anything/ping", player_ping),
    path("api/anything/open", open_data),
    path("api/anything/plain", undeclared),
    *project_patterns,
]
