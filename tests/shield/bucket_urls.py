"""The project's URLs plus views that declare their buckets under paths of their own (test-only).

The paths are chosen against the grain: an API-style view outside /api/, a probe beside pages,
an unmarked view under /api/. The shield must follow the views, not the paths.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_safe
from rest_framework.request import Request
from rest_framework.response import Response

from shield.decorators import EXEMPT, PROBE, PROGRESS, rate_limit
from streamsite.api import ApiView
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


@rate_limit(PROBE)
def uptime(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def undeclared(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


class Tiered(ApiView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    path("api/anything/ping", player_ping),
    path("api/anything/open", open_data),
    path("api/anything/plain", undeclared),
    path("anything/tiered", Tiered.as_view()),
    path("anything/uptime", uptime),
    *project_patterns,
]
