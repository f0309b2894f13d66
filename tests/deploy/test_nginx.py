"""The shipped nginx configuration, run by a real nginx in front of the live Django server."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "streamsite.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render_template(values: dict[str, str]) -> str:
    """Fill ${NAME} placeholders as the nginx image's envsubst step does; leave $nginx_vars."""
    text = TEMPLATE.read_text()
    missing = set(re.findall(r"\$\{(\w+)\}", text)) - set(values)
    assert not missing, f"template placeholders without a value: {missing}"
    return re.sub(r"\$\{(\w+)\}", lambda match: values[match.group(1)], text)


@pytest.fixture
def nginx(live_server, tmp_path: Path) -> Iterator[str]:
    static_root = tmp_path / "static"
    (static_root / "css").mkdir(parents=True)
    (static_root / "css" / "site.css").write_text("body { color: white; }\n")
    port = free_port()
    site = render_template(
        {
            "NGINX_LISTEN": f"127.0.0.1:{port}",
            "STREAMSITE_UPSTREAM": live_server.url.removeprefix("http://"),
            "NGINX_CACHE_DIR": str(tmp_path / "cache"),
            "STREAMSITE_STATIC_ROOT": str(static_root),
            "STREAMSITE_MEDIA_ROOT": str(tmp_path / "media"),
        }
    )
    (tmp_path / "site.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"""{user}
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
"""
    )
    command = [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    subprocess.run([*command, "-t"], check=True, capture_output=True)
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/static/css/site.css")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for(url: str) -> None:
    for _ in range(50):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"nginx did not answer at {url}")


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.django_db(transaction=True)
def test_anonymous_catalog_reads_are_micro_cached_at_the_edge(nginx, make_movie):
    make_movie("Heat", genres=("Crime",))

    first = get(f"{nginx}/api/genres")
    second = get(f"{nginx}/api/genres")

    assert first[0] == second[0] == 200
    assert first[1]["X-Edge-Cache"] == "MISS"
    assert second[1]["X-Edge-Cache"] == "HIT"
    assert second[2] == first[2]


@pytest.mark.django_db(transaction=True)
def test_requests_with_a_session_or_credentials_bypass_the_edge_cache(nginx, make_movie):
    make_movie("Heat", genres=("Crime",))
    get(f"{nginx}/api/genres")

    with_session = get(f"{nginx}/api/genres", Cookie="sessionid=abc")
    with_key = get(f"{nginx}/api/genres", Authorization="Api-Key sk_example")

    assert with_session[1]["X-Edge-Cache"] == "BYPASS"
    assert with_key[1]["X-Edge-Cache"] == "BYPASS"


@pytest.mark.django_db(transaction=True)
def test_static_files_are_served_by_nginx_with_long_caching(nginx):
    status, headers, body = get(f"{nginx}/static/css/site.css")

    assert status == 200
    assert body == b"body { color: white; }\n"
    assert "max-age=604800" in headers["Cache-Control"]
    assert "X-Edge-Cache" not in headers  # never reached Django


@pytest.mark.django_db(transaction=True)
def test_unknown_api_path_passes_through_as_json_404(nginx):
    status, headers, body = get(f"{nginx}/api/does-not-exist")

    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert b'"not_found"' in body


@pytest.mark.django_db(transaction=True)
def test_metrics_are_not_reachable_through_the_edge(nginx):
    status, _, _ = get(f"{nginx}/metrics")

    assert status == 404
