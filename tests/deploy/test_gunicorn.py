"""gunicorn as deployed (deploy/gunicorn.conf.py): what it answers itself, before Django."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_process import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=[1, 2], ids=["sync", "gthread"])
def gunicorn(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """The deployed configuration on a free port, with each kind of worker gunicorn runs."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('gunicorn') / 'db.sqlite3'}",
        "LOG_LEVEL": "ERROR",
    }
    command = [
        sys.executable, "-m", "gunicorn", "streamsite.wsgi:application",
        "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", str(request.param),
        "--log-level", "critical",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while raw(port, b"GET /api/health/live HTTP/1.0\r\n\r\n")[0] != 200:
            assert process.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not come up"
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library would send these) and read the answer."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines)
        return int(status_line.split()[1]), headers, body
    return 0, {}, b""


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/movies?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /api/movies HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (b"GET /api/movies HTTP/1.1\r\nHost: x\r\n" + b"X-N: 1\r\n" * 200 + b"\r\n", 431),
        (b"NOT A REQUEST\r\n\r\n", 400),
    ],
    ids=["long-request-line", "long-header", "too-many-headers", "garbage"],
)
def test_requests_gunicorn_refuses_itself_get_the_json_error_shape(gunicorn, request_bytes, status):
    answered, headers, body = raw(gunicorn, request_bytes)

    assert answered == status
    assert headers["Content-Type"] == "application/json"
    error = json.loads(body)
    assert set(error) == {"error", "detail"} and error["error"]
