"""The shipped nginx configuration, run by a real nginx in front of the live Django server."""

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


HLS_SIGNING_KEY = "nginx0and0django0share0this0key"
UPLOAD_MAX_BYTES = 8 * 1024**3


@contextlib.contextmanager
def running_nginx(
    *,
    upstream: str,
    directory: Path,
    hls_root: Path,
    hls_signing_key: str = HLS_SIGNING_KEY,
    upload_max_bytes: int = UPLOAD_MAX_BYTES,
) -> Iterator[str]:
    """The shipped template, rendered and run by a real nginx in front of ``upstream``."""
    static_root = directory / "static"
    (static_root / "css").mkdir(parents=True)
    (static_root / "css" / "site.css").write_text("body { color: white; }\n")
    port = free_port()
    site = render_template(
        {
            "NGINX_LISTEN": f"127.0.0.1:{port}",
            "STREAMSITE_UPSTREAM": upstream,
            "NGINX_CACHE_DIR": str(directory / "cache"),
            "STREAMSITE_STATIC_ROOT": str(static_root),
            "STREAMSITE_MEDIA_ROOT": str(directory / "media"),
            "STREAMSITE_HLS_ROOT": str(hls_root),
            "HLS_SIGNING_KEY": hls_signing_key,
            "STREAMSITE_UPLOAD_MAX_BYTES": str(upload_max_bytes),
        }
    )
    (directory / "site.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""
    (directory / "nginx.conf").write_text(
        f"""{user}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/site.conf;
}}
"""
    )
    command = [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf")]
    subprocess.run([*command, "-t"], check=True, capture_output=True)
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/static/css/site.css")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def nginx(live_server, settings, tmp_path: Path) -> Iterator[str]:
    """nginx in front of the live server, sharing its HLS root and signing key."""
    settings.HLS_SIGNING_KEY = HLS_SIGNING_KEY
    settings.HLS_ROOT = tmp_path / "hls"
    with running_nginx(
        upstream=live_server.url.removeprefix("http://"),
        directory=tmp_path,
        hls_root=settings.HLS_ROOT,
    ) as base:
        yield base


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


@pytest.mark.django_db(transaction=True)
def test_nginx_serves_signed_hls_itself_even_where_django_would_not(nginx, settings):
    from videos import signing

    settings.HLS_SERVED_BY_DJANGO = False  # production: only nginx serves /hls/
    segment = Path(settings.HLS_ROOT) / "7" / "720p" / "seg_00001.ts"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(b"\x47" + bytes(187))

    status, headers, body = get(nginx + signing.signed_url(7, "720p/seg_00001.ts"))

    assert status == 200
    assert body == segment.read_bytes()
    assert "X-Edge-Cache" not in headers  # never reached Django


@pytest.mark.django_db(transaction=True)
def test_paths_under_hls_that_are_no_signed_link_end_at_nginx(nginx, settings):
    settings.HLS_SERVED_BY_DJANGO = True

    for path in ("/hls/", "/hls/master.m3u8", "/hls/sig/notanumber/7/master.m3u8"):
        status, headers, _ = get(nginx + path)

        assert status == 404, path
        assert "X-Edge-Cache" not in headers, path


def post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/octet-stream"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.django_db(transaction=True)
def test_admin_takes_uploads_up_to_the_video_cap_and_nginx_refuses_bigger(live_server, tmp_path):
    cap = 12 * 1024**2  # VIDEO_UPLOAD_MAX_BYTES as an operator set it
    with running_nginx(
        upstream=live_server.url.removeprefix("http://"),
        directory=tmp_path,
        hls_root=tmp_path / "hls",
        upload_max_bytes=cap,
    ) as base:
        admin_page = get(f"{base}/admin/login/")
        at_cap = post(f"{base}/admin/login/", bytes(cap))
        over_cap = post(f"{base}/admin/login/", bytes(cap + 1))
        big_elsewhere = post(f"{base}/api/genres", bytes(cap))

    assert admin_page[0] == 200
    assert at_cap[0] == 403 and b"CSRF" in at_cap[1]  # reached Django, which judged the form
    assert over_cap[0] == 413
    assert big_elsewhere[0] == 413  # the video cap is the admin's alone


def test_compose_gives_nginx_the_apps_signing_key_upload_cap_and_renditions():
    import yaml
    from django.conf import settings

    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    app, nginx = services["web"]["environment"], services["nginx"]["environment"]
    filter_ = re.compile(nginx["NGINX_ENVSUBST_FILTER"])
    placeholders = set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))

    assert all(filter_.search(name) for name in placeholders)  # the image fills every one
    assert placeholders <= set(nginx)
    assert nginx["HLS_SIGNING_KEY"] == app["HLS_SIGNING_KEY"]
    assert nginx["STREAMSITE_UPLOAD_MAX_BYTES"] == app["VIDEO_UPLOAD_MAX_BYTES"]
    assert app["VIDEO_UPLOAD_MAX_BYTES"].endswith(f":-{settings.VIDEO_UPLOAD_MAX_BYTES}}}")
    renditions = f"{nginx['STREAMSITE_HLS_ROOT']}:ro"
    assert any(mount.endswith(renditions) for mount in services["nginx"]["volumes"])
    for name in ("web", "worker"):
        assert f"videos:{app['VIDEO_ROOT']}" in services[name]["volumes"]
