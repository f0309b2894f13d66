"""The shield's Redis calls: a request is never counted twice, whatever the network does."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import uuid
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.test import override_settings

from shield.ratelimit import decide, parse_limit
from tests.tcp_proxy import TcpProxy


class ReplyCutter(TcpProxy):
    """Forwards commands to Redis; once ``armed``, resets the client's connection instead of
    passing it the next reply (the command ran, the client never hears so)."""

    armed = False

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        from_server = source.getpeername()[1] == self.target[1]
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if from_server and self.armed:
                    self.armed = False
                    sink.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    break
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _window_length(server: redis.Redis, key: str) -> int:
    (window,) = server.scan_iter(match=f"*{key}*")
    return server.llen(window)


def test_a_reply_lost_after_the_count_does_not_count_the_request_twice():
    parts = urlsplit(settings.SHIELD_REDIS_URL)
    cutter = ReplyCutter((parts.hostname or "127.0.0.1", parts.port or 6379))
    cutter.start()
    direct = redis.Redis.from_url(settings.SHIELD_REDIS_URL)
    item, key = parse_limit("5/minute"), f"lost-reply-{uuid.uuid4()}"
    through_cutter = parts._replace(netloc=f"127.0.0.1:{cutter.port}").geturl()
    try:
        with override_settings(SHIELD_REDIS_URL=through_cutter):
            first = decide(item, key, tier="anonymous")  # connected, script loaded
            cutter.armed = True
            lost = decide(item, key, tier="anonymous")
    finally:
        cutter.cut()

    assert first is not None and first.remaining == 4
    assert lost is None  # the reply never came: let through, failing open
    # Redis counted that request once; sending the script again would have counted it twice.
    assert _window_length(direct, key) == 2


def test_concurrent_threads_share_the_client_and_are_each_counted_once():
    item, key = parse_limit("1000/minute"), f"threads-{uuid.uuid4()}"
    decisions = []

    def worker() -> None:
        decisions.extend(decide(item, key, tier="anonymous") for _ in range(20))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert None not in decisions
    assert sorted(d.remaining for d in decisions) == list(range(1000 - 160, 1000))
