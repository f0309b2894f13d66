"""The shipped nginx template, rendered and run by a real nginx the way the official image runs it:
the template rendered into conf.d beside the image's stock server, under the image's nginx.conf
(this machine's paths), with a certificate made by deploy/tls/self-signed.sh."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "streamsite.conf.template"
SELF_SIGNED = ROOT / "deploy" / "tls" / "self-signed.sh"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
# An instance of a pool in the template: STREAMSITE_WEB_1, STREAMSITE_PROGRESS_2…
POOL_SERVER = re.compile(r"STREAMSITE_([A-Z]+)_(\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill ${NAME} placeholders as the image's envsubst step does; leave $nginx_vars."""
    missing = placeholders(text) - set(values)
    assert not missing, f"template placeholders without a value: {missing}"
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def pool_placeholders(text: str = "") -> list[str]:
    return sorted(
        name for name in placeholders(text or TEMPLATE.read_text()) if POOL_SERVER.match(name)
    )


def self_signed_certificate(directory: Path, domain: str = "localhost") -> Path:
    """The first-start certificate, made by the script compose's tls-init service runs."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["sh", str(SELF_SIGNED)],
        env={**os.environ, "TLS_DIR": str(directory), "DOMAIN": domain},
        check=True,
        capture_output=True,
    )
    return directory / "fullchain.pem"


# The image's own conf.d/default.conf: port 80, its welcome page (as text here). The template
# must replace it, or it answers every request for "localhost" on port 80.
STOCK_SERVER = """server {{
    listen       {listen};
    server_name  localhost;
    location / {{
        return 200 "Welcome to nginx!\\n";
    }}
}}
"""


def image_nginx_conf(directory: Path, *, workers: int = 1) -> str:
    """The image's /etc/nginx/nginx.conf with this machine's paths: conf.d/*.conf in http."""
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""{user}
worker_processes {workers};
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/conf.d/*.conf;
}}
"""


class Reply(NamedTuple):
    status: int
    headers: Message
    body: bytes


@dataclass
class Edge:
    """A running nginx: its three listeners, its access log and the certificate it presents."""

    http: str  # the public plain-HTTP port: ACME challenges, and a redirect
    https: str
    internal: str  # plain HTTP inside the network
    directory: Path
    certificate: Path
    access_log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))

    def request(
        self, url: str, method: str = "GET", body: bytes | None = None, **headers: str
    ) -> Reply:
        """One request on a connection of its own, over TLS for https:// URLs."""
        parts = urllib.parse.urlsplit(url)
        connection = (
            http.client.HTTPSConnection(parts.hostname, parts.port, timeout=15, context=self.tls())
            if parts.scheme == "https"
            else http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        )
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()

    def log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []

    def logged(self, request_id: str) -> dict[str, str]:
        """The access log's fields for one request (nginx writes the line once it is done)."""
        deadline = time.monotonic() + 5
        while True:
            for line in self.log_lines():
                if f"request_id={request_id} " in line:
                    # Values are single words, but nginx lists every instance it tried
                    # ("upstream=a:1, b:2").
                    return dict(re.findall(r"(\w+)=([^\s,]*(?:, [^\s,]+)*)", line))
            assert time.monotonic() < deadline, f"no access log line for {request_id}"
            time.sleep(0.05)


def site_values(
    *,
    servers: str | Mapping[str, str],
    directory: Path,
    certificate_dir: Path,
    static_root: Path,
    media_root: Path,
    hls_root: Path,
    hls_signing_key: str,
    upload_max_bytes: int,
) -> dict[str, str]:
    """Values for every placeholder, with three free loopback ports to listen on."""
    pools = pool_placeholders()
    instances = servers if not isinstance(servers, str) else dict.fromkeys(pools, servers)
    return {
        "NGINX_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
        "NGINX_HTTPS_LISTEN": f"127.0.0.1:{free_port()}",
        "NGINX_INTERNAL_LISTEN": f"127.0.0.1:{free_port()}",
        "NGINX_ACCESS_LOG": str(directory / "access.log"),
        "NGINX_TLS_CERTIFICATE": str(certificate_dir / "fullchain.pem"),
        "NGINX_TLS_CERTIFICATE_KEY": str(certificate_dir / "privkey.pem"),
        "NGINX_ACME_ROOT": str(directory / "acme"),
        "NGINX_CACHE_DIR": str(directory / "cache"),
        **instances,
        "STREAMSITE_STATIC_ROOT": str(static_root),
        "STREAMSITE_MEDIA_ROOT": str(media_root),
        "STREAMSITE_HLS_ROOT": str(hls_root),
        "HLS_SIGNING_KEY": hls_signing_key,
        "STREAMSITE_UPLOAD_MAX_BYTES": str(upload_max_bytes),
    }


def listen_url(scheme: str, listen: str) -> str:
    return f"{scheme}://{listen if ':' in listen else '127.0.0.1:' + listen}"


@contextlib.contextmanager
def running_edge(
    values: Mapping[str, str],
    directory: Path,
    *,
    template: str = "",
    rendered_name: str = "default.conf",
    stock_server: bool = True,
    workers: int = 1,
    ready_path: str = "/.well-known/acme-challenge/ready",
) -> Iterator[Edge]:
    """nginx with the template rendered as the image renders it, until the block exits.

    ``rendered_name`` is where the image writes the rendered template in conf.d (the mount's
    name without ``.template``); the stock server is there first, as in the image.
    """
    conf_d = directory / "conf.d"
    conf_d.mkdir(parents=True, exist_ok=True)
    if stock_server:
        (conf_d / "default.conf").write_text(
            STOCK_SERVER.format(listen=values["NGINX_HTTP_LISTEN"])
        )
    (conf_d / rendered_name).write_text(render(template or TEMPLATE.read_text(), values))
    acme = Path(values["NGINX_ACME_ROOT"]) / ".well-known" / "acme-challenge"
    acme.mkdir(parents=True, exist_ok=True)
    (acme / "ready").write_text("ready\n")
    (directory / "nginx.conf").write_text(image_nginx_conf(directory, workers=workers))
    command = [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    edge = Edge(
        http=listen_url("http", values["NGINX_HTTP_LISTEN"]),
        https=listen_url("https", values["NGINX_HTTPS_LISTEN"]),
        internal=listen_url("http", values["NGINX_INTERNAL_LISTEN"]),
        directory=directory,
        certificate=Path(values["NGINX_TLS_CERTIFICATE"]),
        access_log=Path(values["NGINX_ACCESS_LOG"]),
        process=process,
    )
    try:
        wait_for(edge, edge.http + ready_path)
        yield edge
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for(edge: Edge, url: str) -> None:
    for _ in range(100):
        with contextlib.suppress(OSError):
            edge.request(url)
            return
        assert edge.process.poll() is None, edge.process.stderr.read().decode()  # type: ignore[union-attr]
        time.sleep(0.05)
    raise AssertionError(f"nginx did not answer at {url}")
