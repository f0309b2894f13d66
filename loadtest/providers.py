"""The streaming providers, played on this machine: a small HTTP server on loopback that
answers every provider's health page and player page with an HTML page, as a provider that is
up does. The load test's database points every provider at it (nothing leaves the machine),
so the health probe finds them up and the watch page hands them out, as in production.
"""

from __future__ import annotations

import contextlib
from http.server import BaseHTTPRequestHandler

from bench.common import serving

PAGE = b"<!doctype html><html><head><title>player</title></head><body>player</body></html>"


class _Provider(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the probe asks every few seconds: no line each time


def running() -> contextlib.AbstractContextManager[str]:
    """The server, until the block exits; yields its base URL."""
    return serving(_Provider)
