"""The REST API's common ground: its base view, and one JSON error shape.

Every API error is ``{"error": <code>, "detail": <sentence>}``; validation errors add
``"fields": {<name>: [<message>, …]}`` so a client can tell which parameter was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from streamsite.resilience import database_breaker


class ApiView(APIView):
    """The base of the API's views: each call counts against its caller's rate-limit tier.

    The shield reads the bucket a view declares (``shield.decorators``), knowing no URL; a view
    that belongs in another bucket says so with ``@rate_limit(...)``, which overrides this.
    """

    shield_bucket = "tier"


class UnknownEndpointView(ApiView):
    """A path under /api/ that names no endpoint: a 404 in the API's shape, whatever the method
    or credentials, counted in the caller's tier like any other call (and with its headers)."""

    schema = None  # not an operation of the schema

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        raise exceptions.NotFound()


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Django's own 404 and 403 become their DRF equivalents so they get the same shape.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, UNAVAILABLE_ERRORS):
        body, retry_after = unavailable()
        return Response(body, status=503, headers={"Retry-After": str(retry_after)})
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


class StrictSerializer(serializers.Serializer):
    """Refuses names it does not declare: a misspelt ``?strat=90`` or body field must not be
    silently ignored. Reported with every other wrong field, unknown names first."""

    unknown_message = "Unknown field."
    # Names read by something else than this serializer (a paginator's ``cursor``).
    allowed_extra: tuple[str, ...] = ()

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        unknown: dict[str, Any] = {}
        if isinstance(data, Mapping):
            names = set(data) - set(self.fields) - set(self.allowed_extra)
            unknown = {str(name): [self.unknown_message] for name in sorted(names, key=str)}
        try:
            value = super().to_internal_value(data)
        except exceptions.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise exceptions.ValidationError({**unknown, **exc.detail}) from None
            raise
        if unknown:
            raise exceptions.ValidationError(unknown)
        return value


class StrictParams(StrictSerializer):
    """Query parameters, refused by the same rule."""

    unknown_message = "Unknown parameter."


def is_api(path: str) -> bool:
    """Whether a path belongs to the REST API, whose errors are JSON rather than pages."""
    return path.startswith("/api/")


def json_error(status: int, code: str, detail: str, **extra: Any) -> JsonResponse:
    """The same error shape for responses produced outside DRF views (middleware, 404s)."""
    return JsonResponse({"error": code, "detail": detail, **extra}, status=status)


# The database failing as a service (unreachable, its circuit open, a statement timed out), as
# opposed to a query being wrong: a 503 with Retry-After, never a 500. Bugs (IntegrityError,
# ProgrammingError, DataError) stay 500s.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


def unavailable() -> tuple[dict[str, str], int]:
    """The body and ``Retry-After`` of a 503 while the database is unavailable: until its
    breaker lets a probe through, or its reset time."""
    retry_after = max(1, math.ceil(database_breaker().retry_after()))
    detail = f"The database is not answering; try again in {retry_after} s."
    return {"error": "unavailable", "detail": detail}, retry_after


def unavailable_error() -> JsonResponse:
    """The JSON 503 for errors raised outside DRF views (streamsite.errors)."""
    body, retry_after = unavailable()
    response = JsonResponse(body, status=503)
    response["Retry-After"] = str(retry_after)
    return response
