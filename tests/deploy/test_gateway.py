"""The gateway's rules (deploy/nginx), with small recording servers as the pools' instances: which
pool a path goes to, what an instance is told, what happens when instances are gone.
tests/topology runs the same template in front of real gunicorn instances of every role."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.edge import Edge, free_port, pool_placeholders
from tests.deploy.test_nginx import running_site


@dataclass
class Instance:
    """An HTTP server standing in for one gunicorn instance: says its name, keeps what it got."""

    name: str
    port: int = field(default_factory=free_port)
    received: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def serving(self) -> Iterator[Instance]:
        instance = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                instance.received.append((self.command, self.path, dict(self.headers)))
                body = instance.name.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_DELETE = answer

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


@dataclass
class Gateway:
    edge: Edge
    instances: dict[str, Instance]

    def served_by(self, path: str, method: str = "GET", **headers: str) -> str:
        reply = self.edge.request(self.edge.https + path, method, b"" if method == "POST" else None,
                                  **headers)  # fmt: skip
        assert reply.status == 200, (path, reply.status, reply.body)
        return reply.body.decode()


def instance_name(placeholder: str) -> str:
    """STREAMSITE_PROGRESS_2 → progress-2, the compose service it stands for."""
    _, pool, number = placeholder.split("_")
    return f"{pool.lower()}-{number}"


@contextlib.contextmanager
def gateway(tmp_path: Path, *, down: tuple[str, ...] = ()) -> Iterator[Gateway]:
    """The template with a recording server per instance; those named in ``down`` never run."""
    instances = {instance_name(p): Instance(instance_name(p)) for p in pool_placeholders()}
    servers = {p: instances[instance_name(p)].address for p in pool_placeholders()}
    with contextlib.ExitStack() as stack:
        for name, instance in instances.items():
            if name not in down:
                stack.enter_context(instance.serving())
        edge = stack.enter_context(
            running_site(upstream=servers, directory=tmp_path, hls_root=tmp_path / "hls")
        )
        yield Gateway(edge, instances)


ROUTES = {
    "/": "web",
    "/browse/?genre=crime": "web",
    "/accounts/login/": "web",
    "/api/movies": "api",
    "/api/progress": "api",
    "/api/streaming/sources/7": "api",
    "/api/health": "api",
    "/api/docs": "api",
    "/api/streaming/progress/7": "progress",
    "/api/streaming/sessions": "progress",
    "/admin/": "admin",
}


def test_each_path_goes_to_the_pool_of_its_role(tmp_path):
    with gateway(tmp_path) as site:
        for path, pool in ROUTES.items():
            assert site.served_by(path).startswith(f"{pool}-"), path


def test_an_instance_is_told_the_request_id_the_scheme_and_asked_for_no_encoding(tmp_path):
    with gateway(tmp_path) as site:
        reply = site.edge.request(site.edge.https + "/browse/", **{"Accept-Encoding": "gzip"})
        instance = site.instances[reply.body.decode()]

    _, _, headers = instance.received[-1]
    assert headers["X-Request-ID"] == reply.headers["X-Request-ID"]
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers.get("Accept-Encoding", "") == ""


def test_gets_are_spread_over_a_pools_instances(tmp_path):
    with gateway(tmp_path) as site:
        served = [site.served_by(f"/?n={n}") for n in range(30)]

    assert {name: served.count(name) for name in set(served)} == {
        "web-1": 10, "web-2": 10, "web-3": 10,
    }  # fmt: skip


def test_gets_meant_for_a_dead_instance_are_answered_by_the_others(tmp_path):
    with gateway(tmp_path, down=("web-2",)) as site:
        served = [site.served_by(f"/?n={n}") for n in range(30)]
        retried = [
            line for line in site.edge.log_lines() if "upstream=127.0.0.1" in line and ", " in line
        ]

    assert set(served) == {"web-1", "web-3"}
    assert retried  # nginx met the dead instance and moved on, the client never knew


def test_a_post_that_never_reached_an_instance_goes_to_the_next(tmp_path):
    # Refused at connect, the request was never sent: trying the next instance is safe. (A
    # POST an instance received is never sent again: tests/topology, with an instance dying.)
    with gateway(tmp_path, down=("progress-1",)) as site:
        served = {site.served_by("/api/streaming/sessions", "POST") for _ in range(6)}

    assert served == {"progress-2"}


def test_an_api_pool_with_no_instance_answers_json_503_and_pages_still_work(tmp_path):
    with gateway(tmp_path, down=("progress-1", "progress-2")) as site:
        heartbeat = site.edge.request(
            site.edge.https + "/api/streaming/progress/7", "POST", b"{}",
            **{"Content-Type": "application/json"},
        )  # fmt: skip
        page = site.served_by("/")
        catalog = site.served_by("/api/movies")

    assert heartbeat.status == 503
    assert heartbeat.headers["Content-Type"] == "application/json"
    assert heartbeat.headers["Retry-After"] == "5"
    assert json.loads(heartbeat.body)["error"] == "service_unavailable"
    assert heartbeat.headers["X-Request-ID"]
    assert page.startswith("web-") and catalog.startswith("api-")


@pytest.mark.parametrize("path", ["/metrics", "/hls/x", "/static/css/site.css"])
def test_paths_the_edge_answers_itself_reach_no_pool(tmp_path, path):
    with gateway(tmp_path) as site:
        site.edge.request(site.edge.https + path)

    assert not any(instance.received for instance in site.instances.values())
