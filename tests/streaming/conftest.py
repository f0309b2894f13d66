"""Real provider servers on 127.0.0.1 and provider rows pointing at them.

Each kind of server behaves like a provider in one state: ``healthy`` serves its player page
and health page as HTML, ``failing`` answers 503, ``hanging`` accepts the request and never
answers, ``garbage`` answers 200 with bytes that are not a page, ``junk`` speaks no HTTP at
all, and ``refused`` is a port nobody listens on.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from werkzeug import Request, Response

from streaming.models import Provider
from tests.http_server import HTTPServer

PLAYER_PAGE = (
    "<!doctype html><html lang='en'><head><title>{title}</title></head>"
    "<body style='margin:0;background:#123;color:#fff;font:32px sans-serif'>"
    "<p id='player'>{title} player</p>{script}</body></html>"
)
# What VidKing's player posts once it plays: its first PLAYER_EVENT, as a JSON string.
PLAYER_EVENT_SCRIPT = (
    "<script>parent.postMessage(JSON.stringify({type: 'PLAYER_EVENT', data: {event: 'play', "
    "currentTime: 0, duration: 7200, progress: 0}}), '*');</script>"
)
_slugs = itertools.count(1)
BROKEN_TIMEOUT = 0.5  # seconds a provider row waits for a test's hanging provider


@dataclass
class ProviderServer:
    """A provider's base URL and what it has been asked for."""

    base_url: str
    state: str = "healthy"
    requests: list[str] = field(default_factory=list)
    # A healthy player page posts this (e.g. PLAYER_EVENT_SCRIPT) once it has loaded.
    script: str = ""


@pytest.fixture(autouse=True)
def fast_breakers(settings) -> None:
    # Two failed probes open a circuit; it stays open for the whole test unless a test
    # shortens the reset itself.
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    settings.CIRCUIT_RESET_SECONDS = 30.0
    settings.CIRCUIT_PROBE_SECONDS = 10.0
    settings.OUTBOUND_BACKOFF_BASE = 0.001
    settings.OUTBOUND_BACKOFF_CAP = 0.01
    settings.SOURCES_LIVE_CHECK = False
    settings.CIRCUIT_BREAKERS_ENABLED = True


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so hanging handlers return and their servers can stop."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def provider_server(release: threading.Event) -> Iterator[Callable[[str], ProviderServer]]:
    """Start a provider in a state: healthy, failing, hanging, garbage, junk or refused.

    ``script`` goes into a healthy provider's player page: PLAYER_EVENT_SCRIPT makes it post
    VidKing's ready message to the watch page."""
    servers: list[HTTPServer] = []
    junk: list[JunkServer] = []

    def start(state: str, title: str = "Provider", script: str = "") -> ProviderServer:
        if state == "refused":
            return ProviderServer(f"http://127.0.0.1:{closed_port()}")
        if state == "junk":
            junk.append(JunkServer())
            return ProviderServer(f"http://127.0.0.1:{junk[-1].port}")
        server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        server.start()
        servers.append(server)
        record = ProviderServer(f"http://127.0.0.1:{server.port}", state, script=script)
        server.expect_request(re.compile(".*")).respond_with_handler(
            _handler(record, title, release)
        )
        return record

    yield start
    release.set()
    for server in servers:
        server.clear()
        server.stop()
    for server in junk:
        server.stop()


def _handler(
    record: ProviderServer, title: str, release: threading.Event
) -> Callable[[Request], Response]:
    # Reads record.state on every request, so a test can break or mend a running provider.
    def handle(request: Request) -> Response:
        record.requests.append(request.full_path.rstrip("?"))
        state = record.state
        if state == "healthy":
            page = PLAYER_PAGE.format(title=title, script=record.script)
            return Response(page, content_type="text/html")
        if state == "failing":
            return Response(
                "<h1>503 Service Unavailable</h1>", status=503, content_type="text/html"
            )
        if state == "hanging":
            release.wait(timeout=60)
            return Response("too late", content_type="text/html")
        if state == "garbage":
            return Response(bytes(range(256)) * 8, content_type="application/octet-stream")
        raise ValueError(state)

    return handle


class JunkServer:
    """Accepts connections and answers with bytes that are not HTTP."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(b"\x00\x13\x37 this is not a protocol you know\r\n\r\n")

    def stop(self) -> None:
        self._stopping.set()
        # shutdown() wakes the thread blocked in accept() now, not at its next 0.2 s timeout.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self._sock.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ProviderFactory = Callable[..., Provider]


@pytest.fixture
def make_provider(db: None) -> ProviderFactory:
    """A provider row; the seeded ones are removed first so each test sees only its own."""
    Provider.objects.all().delete()

    def make(base_url: str, *, priority: int = 10, **fields: object) -> Provider:
        number = next(_slugs)
        values: dict[str, object] = {
            "name": f"Provider {number}",
            "slug": f"provider-{number}",
            "kind": Provider.Kind.EMBED,
            "base_url": base_url,
            "movie_path_template": "/embed/movie/{tmdb_id}",
            "start_param": "startAt",
            "priority": priority,
            # Ample for a healthy provider on a crowded machine; a test of a broken one passes
            # BROKEN_TIMEOUT so that it gives up quickly.
            "timeout_seconds": 3.0,
            "health_path": "/health",
        }
        values.update(fields)
        provider = Provider(**values)
        provider.full_clean()
        provider.save()
        return provider

    return make
