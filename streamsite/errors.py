"""Error pages: JSON under /api/, styled HTML everywhere else."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from streamsite.api import is_api, json_error


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request.path):
        return json_error(404, "not_found", "Not found.")
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api(request.path):
        return json_error(500, "server_error", "Internal server error.")
    # No request context and so no context processors: whatever broke (the database, the
    # session store) may be what they depend on.
    return HttpResponseServerError(loader.get_template("500.html").render())
