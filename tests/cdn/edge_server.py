"""Our nginx edge (deploy/nginx/edge) run by a real nginx with Debian's cache-purge module."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "edge" / "edge.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PURGE_MODULE = Path("/usr/lib/nginx/modules/ngx_http_cache_purge_module.so")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render(values: dict[str, str]) -> str:
    text = TEMPLATE.read_text()
    missing = set(re.findall(r"\$\{(\w+)\}", text)) - set(values)
    assert not missing, f"template placeholders without a value: {missing}"
    return re.sub(r"\$\{(\w+)\}", lambda match: values[match.group(1)], text)


@dataclass(frozen=True)
class EdgeServer:
    public: str  # CDN_BASE_URL
    purge: str  # CDN_NGINX_PURGE_URL
    directory: Path


@contextlib.contextmanager
def running_edge(
    *,
    origin: str,
    directory: Path,
    hls_signing_key: str,
    workers: int = 1,
    access_log: Path | None = None,
) -> Iterator[EdgeServer]:
    """The edge template in front of ``origin`` (host:port) until the block exits.

    ``access_log``: a line per request, "<cache status> <status> <URI>" (the benchmark's).
    """
    assert PURGE_MODULE.exists(), "no cache-purge module: run scripts/ensure-services.sh"
    directory.mkdir(parents=True, exist_ok=True)
    public, purge = free_port(), free_port()
    site = render(
        {
            "EDGE_LISTEN": f"127.0.0.1:{public}",
            "EDGE_PURGE_LISTEN": f"127.0.0.1:{purge}",
            "EDGE_PURGE_ALLOW": "127.0.0.0/8",
            "EDGE_ORIGIN": origin,
            "EDGE_CACHE_DIR": str(directory / "cache"),
            "EDGE_CACHE_MAX_SIZE": "256m",
            "HLS_SIGNING_KEY": hls_signing_key,
        }
    )
    (directory / "edge.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""
    (directory / "nginx.conf").write_text(
        f"""load_module {PURGE_MODULE};
{user}
worker_processes {workers};
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    log_format edge '$upstream_cache_status $status $request_uri';
    access_log {access_log or "off"}{" edge" if access_log else ""};
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/edge.conf;
}}
"""
    )
    command = [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    edge = EdgeServer(f"http://127.0.0.1:{public}", f"http://127.0.0.1:{purge}", directory)
    try:
        _wait_for(f"{edge.purge}/", process)
        yield edge
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # nginx answered (404: no such page)
        except (urllib.error.URLError, ConnectionError):
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            time.sleep(0.05)
    raise AssertionError(f"nginx did not answer at {url}")
