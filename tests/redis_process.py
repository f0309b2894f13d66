"""A private redis-server for tests that need to stop Redis for real, on a port the OS picks."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisProcess:
    port: int
    process: subprocess.Popen[bytes] | None = None
    # Where an append-only file keeps the data across restarts (as deployed, deploy/); None
    # for a server that forgets everything when it stops.
    data_dir: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable, "redis-server is not installed (scripts/ensure-services.sh installs it)"
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always", "--dir", self.data_dir]
            if self.data_dir
            else ["--appendonly", "no"]
        )
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             *persistence, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """What an operator's restart does: connections closed, loaded scripts gone, and the
        data too unless the server keeps an append-only file (``data_dir``)."""
        self.stop()
        self.start()

    def cache_settings(self, **options: Any) -> dict[str, Any]:
        """A CACHES setting pointing at this server, with the production backend and timeouts."""
        return {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": self.url,
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5, **options},
            }
        }


@contextlib.contextmanager
def redis_process(data_dir: str | None = None) -> Iterator[RedisProcess]:
    server = RedisProcess(port=free_port(), data_dir=data_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not listen on port {port} within {timeout:.0f}s")
