"""One id per request, made at the edge and written in every log line of that request.

nginx makes a random id for every request it receives (``$request_id``, whatever the client
sent) and passes it to Django in ``X-Request-ID``; its access log, gunicorn's and every line
Django logs while answering carry it, so one grep follows a request through every process.
Where no nginx is in front (``make run``), Django makes the id itself. A header that does not
look like an id is replaced rather than logged: it would let a client write into our logs.

The id lives in a context variable from the moment the request reaches the middleware until
Django has finished sending the response (``request_finished``): Django logs a 4xx/5xx answer
after the middleware has returned, and that line must carry the id too.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
_META_KEY = "HTTP_X_REQUEST_ID"
# nginx's ids are 32 hex digits; other proxies and tracers use UUIDs or dotted/dashed forms.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# What log lines outside any request show.
NO_REQUEST = "-"

_current: ContextVar[str | None] = ContextVar("streamsite_request_id", default=None)


def current() -> str | None:
    """The id of the request this thread is answering, if any."""
    return _current.get()


def from_request(request: HttpRequest) -> str:
    """The edge's id when it sent a well-formed one, else a new one."""
    sent = request.META.get(_META_KEY, "")
    return sent if _WELL_FORMED.fullmatch(sent) else uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE: every later middleware's log lines carry the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = from_request(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        _current.set(request_id)
        response = self.get_response(request)
        # Clients quote it in bug reports; behind nginx the edge states it instead (nginx
        # hides this copy, which a micro-cached answer would otherwise repeat for others).
        response[HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="streamsite.request_id.forget")
def _forget(**kwargs: Any) -> None:
    """The thread's next log lines belong to no request (or to the next one)."""
    _current.set(None)


class RequestIdFilter(logging.Filter):
    """Gives every record ``request_id``, for formatters: ``%(request_id)s``.

    Attached to handlers, not loggers, so records of every logger (Django's, ours, libraries')
    get it on their way out.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or NO_REQUEST
        return True
