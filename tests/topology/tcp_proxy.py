"""A TCP proxy between nginx and one instance, for what an instance cannot be made to do from
outside without code in the app: answer slowly, or die after doing a request's work but before
answering it."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field


@dataclass
class TcpProxy:
    """Listens on a free loopback port and passes each connection on to ``target``.

    ``delay``: seconds each request is held before it goes on (the answers are not held), an
    instance slowed by something outside it. ``dying``: each request goes on to the instance,
    which does its work; as its answer starts coming back, the connection to nginx is reset
    and the answer dropped, as when the instance dies at that moment.
    """

    target: tuple[str, int]
    delay: float = 0.0
    dying: bool = False
    # (request line, X-Request-ID) of every request received, in order.
    requests: list[tuple[str, str]] = field(default_factory=list)
    _listener: socket.socket = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=30)
        except OSError:
            _reset(client)
            return
        answering = threading.Event()  # set while the current request is to die
        threading.Thread(
            target=self._answers, args=(upstream, client, answering), daemon=True
        ).start()
        pending = b""
        with contextlib.closing(client), contextlib.closing(upstream):
            while True:
                request, pending = _read_request(client, pending)
                if request is None:
                    return
                head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
                request_id = next(
                    (v for k, v in headers.items() if k.lower() == "x-request-id"), ""
                )
                self.requests.append((head[0], request_id))
                if self.delay:
                    time.sleep(self.delay)
                if self.dying:
                    answering.set()
                try:
                    upstream.sendall(request)
                except OSError:
                    _reset(client)
                    return

    @staticmethod
    def _answers(upstream: socket.socket, client: socket.socket, dying: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while chunk := upstream.recv(65536):
                if dying.is_set():
                    _reset(client)  # the instance did the work; nobody hears its answer
                    return
                client.sendall(chunk)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)


def _read_request(sock: socket.socket, pending: bytes) -> tuple[bytes | None, bytes]:
    """One whole HTTP/1.1 request (head and Content-Length body), and what followed it."""
    while b"\r\n\r\n" not in pending:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None, b""
        if not chunk:
            return None, b""
        pending += chunk
    head, rest = pending.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        assert name.strip().lower() != b"transfer-encoding", "nginx buffers bodies: no chunks"
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as the kernel does for a process that died. Shutting reading
    down first wakes the thread waiting for the next request on it, whose pending receive
    would otherwise hold the socket open."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    sock.close()
