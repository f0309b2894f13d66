"""``/favicon.ico``: browsers and bookmark tools ask for it at the root whatever the page says,
and the admin's pages name no icon of their own. Answered from memory; a day in caches."""

from __future__ import annotations

import functools

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

ICON = settings.BASE_DIR / "static" / "img" / "favicon.ico"


@functools.cache
def _icon() -> bytes:
    return ICON.read_bytes()


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_icon(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


urlpatterns = [path("favicon.ico", favicon, name="favicon")]
