"""pytest-httpserver's ``HTTPServer``, stopped in milliseconds.

Its server thread runs socketserver's ``serve_forever()``, which looks for a shutdown request
only every half second: stopping one waited up to 0.5 s, and dozens of tests start one of
their own (providers, Cloudflare, TMDb). Here the thread looks every 20 ms instead.
"""

from __future__ import annotations

import pytest_httpserver

POLL_SECONDS = 0.02


class HTTPServer(pytest_httpserver.HTTPServer):
    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=POLL_SECONDS)
