"""A Cloudflare API on 127.0.0.1 that answers purges as Cloudflare documents them.

``POST /client/v4/zones/<zone_id>/purge_cache`` with ``Authorization: Bearer <token>`` and a
JSON body naming ``files`` (URLs, or objects with a ``url``), ``tags``, ``hosts``, ``prefixes``
or ``purge_everything: true``, at most 100 of them. Answers are Cloudflare's envelope:
``{"success", "errors": [{"code", "message"}], "messages", "result": {"id"}}``.

The account's purge budget is a token bucket (``per_minute`` and ``burst``; off unless set) on
the server's ``clock``, which a benchmark may simulate; over it is a 429 with ``Retry-After``
and Cloudflare's error 971. Tests can also queue answers of their own (``fail_next``).
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.http_server import HTTPServer

ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "Y3Rlc3QtdG9rZW4tZm9yLWNsb3VkZmxhcmU"
MAX_ITEMS = 100
PURGE_KINDS = ("files", "tags", "hosts", "prefixes")
THROTTLED = "Please wait and consider throttling your request speed"
ONE_KIND = 'Request must contain one of "purge_everything", "files", "tags", "hosts" or "prefixes"'


@dataclass
class Purge:
    """One purge Cloudflare accepted."""

    kind: str
    items: list[str]
    at: float


@dataclass
class FakeCloudflare:
    server: HTTPServer
    clock: Callable[[], float] = time.time
    per_minute: float | None = None
    burst: int = 25
    purges: list[Purge] = field(default_factory=list)
    requests: int = 0
    _canned: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    _tokens: float = 0.0
    _at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens, self._at = float(self.burst), self.clock()
        self.server.expect_request(
            f"/client/v4/zones/{ZONE_ID}/purge_cache", method="POST"
        ).respond_with_handler(self._handle)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/client/v4"

    def purged(self, kind: str) -> list[str]:
        return [item for purge in self.purges if purge.kind == kind for item in purge.items]

    def fail_next(
        self, status: int, *errors: tuple[int, str], retry_after: int | None = None
    ) -> None:
        """Answer the next request with ``success: false`` and these errors."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._canned.append((status, envelope(False, errors=list(errors)), headers))

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.requests += 1
            if self._canned:
                status, body, headers = self._canned.pop(0)
                return _json(status, body, headers)
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return _json(
                    400,
                    envelope(False, errors=[(10000, "Authentication error")]),
                )
            limited = self._take_token()
            if limited is not None:
                return _json(
                    429,
                    envelope(False, errors=[(971, THROTTLED)]),
                    {"Retry-After": str(limited)},
                )
            try:
                body = json.loads(request.get_data())
            except ValueError:
                return _json(400, envelope(False, errors=[(1012, "Request must contain JSON")]))
            return self._purge(body)

    def _take_token(self) -> int | None:
        if self.per_minute is None:
            return None
        now = self.clock()
        rate = self.per_minute / 60
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return max(1, math.ceil((1 - self._tokens) / rate))

    def _purge(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return _json(400, envelope(False, errors=[(1012, "Request must be a JSON object")]))
        if body.get("purge_everything") is True and len(body) == 1:
            self.purges.append(Purge("everything", [], self.clock()))
            return _json(200, envelope(True, result={"id": uuid.uuid4().hex}))
        named = [kind for kind in PURGE_KINDS if kind in body]
        if len(named) != 1 or set(body) != set(named):
            return _json(
                400,
                envelope(False, errors=[(1012, ONE_KIND)]),
            )
        kind = named[0]
        items = body[kind]
        if not isinstance(items, list) or not items:
            return _json(400, envelope(False, errors=[(1012, f"{kind} must be a non-empty list")]))
        if len(items) > MAX_ITEMS:
            return _json(
                400,
                envelope(False, errors=[(1015, f"You may purge up to {MAX_ITEMS} at a time")]),
            )
        values = [item["url"] if isinstance(item, dict) else item for item in items]
        self.purges.append(Purge(kind, values, self.clock()))
        return _json(200, envelope(True, result={"id": uuid.uuid4().hex}))


def envelope(
    success: bool, *, errors: list[tuple[int, str]] = (), result: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "success": success,
        "errors": [{"code": code, "message": message} for code, message in errors],
        "messages": [],
        "result": result,
    }


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def start(clock: Callable[[], float] = time.time, **options: Any) -> FakeCloudflare:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    return FakeCloudflare(server, clock=clock, **options)
