"""The project's URLs plus an API endpoint and a page that fail uncaught (test-only)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from streamsite.urls import handler404, handler500
from streamsite.urls import urlpatterns as project_patterns

__all__ = ["handler404", "handler500", "urlpatterns"]


class Broken(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("a bug in an API view")


def broken_page(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a page")


urlpatterns = [
    path("api/broken", Broken.as_view()),
    path("broken/", broken_page),
    *project_patterns,
]
