"""Error pages: JSON under /api/, styled HTML everywhere else, whatever DEBUG says."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.views.debug import SafeExceptionReporterFilter

from streamsite.api import (
    UNAVAILABLE_ERRORS,
    is_api,
    json_error,
    unavailable,
    unavailable_error,
)

# The codes our own JSON errors use for these statuses; others are named after the status.
_CODES = {400: "invalid", 403: "forbidden", 404: "not_found", 500: "server_error"}
_DETAILS = {404: "Not found.", 500: "Internal server error."}
# Headers that tell a client what to do next; they survive the rewrite to JSON.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Vary", "Cache-Control")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request.path):
        return json_error(404, "not_found", "Not found.")
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if isinstance(sys.exc_info()[1], UNAVAILABLE_ERRORS):
        return _unavailable(request)
    if is_api(request.path):
        return json_error(500, "server_error", "Internal server error.")
    # No request context and so no context processors: whatever broke (the database, the
    # session store) may be what they depend on.
    return HttpResponseServerError(loader.get_template("500.html").render())


def _unavailable(request: HttpRequest) -> HttpResponse:
    """The database is down, and nothing had a stale copy to answer with: a 503 saying when to
    come back (fast: the database's breaker answered, nothing waited)."""
    if is_api(request.path):
        return unavailable_error()
    _, retry_after = unavailable()
    page = loader.get_template("500.html").render(
        {
            "code": 503,
            "heading": "The catalog is out of reach for a moment",
            "message": f"Please try again in {retry_after} seconds.",
        }
    )
    response = HttpResponse(page, status=503)
    response["Retry-After"] = str(retry_after)
    return response


class ApiErrorsMiddleware:
    """Every error answered on /api/ is JSON, whoever produced it.

    Our handlers and DRF answer in JSON already; what remains is what Django renders itself:
    its debug pages when DEBUG is on (a URL that matches no route, an uncaught exception), and
    the empty HTML bodies of decorators such as ``require_GET``. Those are rewritten here, in
    one place, with the same status and the headers a client acts on.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not is_api(request.path) or _is_json(response):
            return response
        return _as_json(response)


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip()
    return content_type == "application/json" or content_type.endswith("+json")


def _as_json(response: HttpResponse) -> HttpResponse:
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    code = _CODES.get(status, phrase.lower().replace(" ", "_").replace("-", "_"))
    rewritten = json_error(status, code, _DETAILS.get(status, f"{phrase}."))
    for header in _KEPT_HEADERS:
        if header in response:
            rewritten[header] = response[header]
    return rewritten


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter for debug pages and error reports, also hiding connection URLs
    (``REDIS_URL``, ``DATABASE_URL``, a cache's ``LOCATION``…): they may carry a password, and
    under ``runserver`` every environment variable is in the request's META."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|LOCATION|DSN", flags=re.IGNORECASE
    )
