"""One JSON error shape for the whole API.

Every API error is ``{"error": <code>, "detail": <sentence>}``; validation errors add
``"fields": {<name>: [<message>, …]}`` so a client can tell which parameter was wrong.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Django's own 404 and 403 become their DRF equivalents so they get the same shape.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        response.data = invalid_body(_field_errors(exc.detail))
    else:
        response.data = {"error": exc.default_code, "detail": str(exc.detail)}
    return response


def invalid_body(fields: dict[str, list[str]]) -> dict[str, Any]:
    """The body of a 400 for invalid input: the first message in ``detail``, all in ``fields``."""
    first = next(iter(fields.items()), None)
    detail = f"{first[0]}: {first[1][0]}" if first else "Invalid input."
    return {"error": "invalid", "detail": detail, "fields": fields}


def _field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            str(name): [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for name, msgs in detail.items()
        }
    messages = detail if isinstance(detail, list) else [detail]
    return {"non_field_errors": [str(m) for m in messages]}


def is_api(path: str) -> bool:
    """Whether a path belongs to the REST API, whose errors are JSON rather than pages."""
    return path.startswith("/api/")


def json_error(status: int, code: str, detail: str, **extra: Any) -> JsonResponse:
    """The same error shape for responses produced outside DRF views (middleware, 404s)."""
    return JsonResponse({"error": code, "detail": detail, **extra}, status=status)
