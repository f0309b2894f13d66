"""The project's URLs plus one endpoint that reports who DRF authenticated (test-only)."""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response

from streamsite.api import ApiView
from streamsite.urls import handler404, handler500
from streamsite.urls import urlpatterns as project_patterns

__all__ = ["handler404", "handler500", "urlpatterns"]


class WhoAmI(ApiView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def get(self, request: Request) -> Response:
        return Response(_identity(request))

    def post(self, request: Request) -> Response:
        return Response({**_identity(request), "written": True}, status=201)


def _identity(request: Request) -> dict[str, str | bool | None]:
    profile = getattr(request.user, "profile", None)
    return {
        "user": request.user.get_username() or None,
        "key": getattr(request.auth, "prefix", None),
        "premium": bool(profile and profile.is_premium),
    }


urlpatterns = [path("api/whoami", WhoAmI.as_view()), *project_patterns]
