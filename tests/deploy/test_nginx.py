"""The shipped nginx configuration, run by a real nginx in front of the live Django server."""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.deploy.edge import (
    ROOT,
    TEMPLATE,
    Edge,
    running_edge,
    self_signed_certificate,
    site_values,
)

HLS_SIGNING_KEY = "nginx0and0django0share0this0key"
UPLOAD_MAX_BYTES = 8 * 1024**3


@contextlib.contextmanager
def running_site(
    *,
    upstream: str | Mapping[str, str],
    directory: Path,
    hls_root: Path,
    hls_signing_key: str = HLS_SIGNING_KEY,
    upload_max_bytes: int = UPLOAD_MAX_BYTES,
) -> Iterator[Edge]:
    """The shipped template run by a real nginx: every instance of every pool at ``upstream``
    (one address), or each pool placeholder (STREAMSITE_WEB_1…) at its own address."""
    static_root = directory / "static"
    (static_root / "css").mkdir(parents=True)
    (static_root / "css" / "site.css").write_text("body { color: white; }\n")
    (static_root / "js").mkdir()
    (static_root / "js" / "app.js").write_text("function play(movie) { return movie; }\n" * 200)
    values = site_values(
        servers=upstream,
        directory=directory,
        certificate_dir=self_signed_certificate(directory / "tls").parent,
        static_root=static_root,
        media_root=directory / "media",
        hls_root=hls_root,
        hls_signing_key=hls_signing_key,
        upload_max_bytes=upload_max_bytes,
    )
    with running_edge(values, directory) as edge:
        yield edge


@contextlib.contextmanager
def running_nginx(**kwargs) -> Iterator[str]:
    """The site in front of ``upstream``, on the plain port inside the network."""
    with running_site(**kwargs) as edge:
        yield edge.internal


@pytest.fixture
def edge(live_server, settings, tmp_path: Path) -> Iterator[Edge]:
    """nginx in front of the live server, sharing its HLS root and signing key."""
    settings.HLS_SIGNING_KEY = HLS_SIGNING_KEY
    settings.HLS_ROOT = tmp_path / "hls"
    with running_site(
        upstream=live_server.url.removeprefix("http://"),
        directory=tmp_path,
        hls_root=settings.HLS_ROOT,
    ) as running:
        yield running


@pytest.fixture
def nginx(edge: Edge) -> str:
    return edge.internal


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
    app, nginx = services["admin-1"]["environment"], services["nginx"]["environment"]
    filter_ = re.compile(nginx["NGINX_ENVSUBST_FILTER"])
    placeholders = set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))

    assert all(filter_.search(name) for name in placeholders)  # the image fills every one
    assert placeholders <= set(nginx)
    assert nginx["HLS_SIGNING_KEY"] == app["HLS_SIGNING_KEY"]
    assert nginx["STREAMSITE_UPLOAD_MAX_BYTES"] == app["VIDEO_UPLOAD_MAX_BYTES"]
    assert app["VIDEO_UPLOAD_MAX_BYTES"].endswith(f":-{settings.VIDEO_UPLOAD_MAX_BYTES}}}")
    renditions = f"{nginx['STREAMSITE_HLS_ROOT']}:ro"
    assert any(mount.endswith(renditions) for mount in services["nginx"]["volumes"])
    for name in ("admin-1", "worker"):  # the admin takes uploads, the worker transcodes them
        assert f"videos:{app['VIDEO_ROOT']}" in services[name]["volumes"]


# --- TLS --------------------------------------------------------------------------------------


def handshake(edge: Edge, context: ssl.SSLContext) -> ssl.SSLSocket:
    address = urllib.parse.urlsplit(edge.https)
    raw = socket.create_connection((address.hostname, address.port), timeout=5)
    return context.wrap_socket(raw, server_hostname=address.hostname)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.django_db(transaction=True)
def test_tls_1_2_and_1_3_are_spoken_with_http2_offered_by_alpn(edge, version):
    context = edge.tls()
    context.minimum_version = context.maximum_version = version
    context.set_alpn_protocols(["h2", "http/1.1"])

    with handshake(edge, context) as connection:
        assert connection.version() == version.name.replace("v1_", "v1.")
        assert connection.selected_alpn_protocol() == "h2"
        cipher = connection.cipher()[0]
    assert "GCM" in cipher or "CHACHA20" in cipher  # AEAD only


@pytest.mark.parametrize(
    ("version", "ciphers"),
    [
        (ssl.TLSVersion.TLSv1_1, "DEFAULT:@SECLEVEL=0"),  # an old protocol, offered for real
        (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"),  # CBC with SHA-1
    ],
    ids=["tls-1.1", "cbc-sha1-cipher"],
)
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
@pytest.mark.django_db(transaction=True)
def test_old_protocols_and_ciphers_are_refused_by_the_server(edge, version, ciphers):
    context = edge.tls()
    context.minimum_version = context.maximum_version = version
    context.set_ciphers(ciphers)

    with pytest.raises(ssl.SSLError) as refused:
        handshake(edge, context).close()

    assert "ALERT" in str(refused.value).upper()  # the server said no, not our client


@pytest.mark.django_db(transaction=True)
def test_every_https_answer_carries_hsts_once_and_plain_http_none(edge, settings, make_movie):
    from videos import signing

    make_movie("Heat")
    segment = Path(settings.HLS_ROOT) / "7" / "720p" / "seg_00001.ts"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(b"\x47" + bytes(187))
    paths = ["/", "/api/genres", "/static/css/site.css", "/metrics", "/hls/", "/nowhere/"]

    for path in [*paths, signing.signed_url(7, "720p/seg_00001.ts")]:
        secure = edge.request(edge.https + path)
        internal = edge.request(edge.internal + path)

        assert len(secure.headers.get_all("Strict-Transport-Security") or []) == 1, path
        assert "max-age=31536000" in secure.headers["Strict-Transport-Security"], path
        assert "Strict-Transport-Security" not in internal.headers, path


@pytest.mark.django_db(transaction=True)
def test_the_public_plain_port_redirects_to_https_but_serves_acme_challenges(edge):
    challenge = Path(edge.directory) / "acme" / ".well-known" / "acme-challenge" / "t0ken"
    challenge.write_text("t0ken.thumbprint")

    redirect = edge.request(edge.http + "/browse/?genre=crime", Host="streamsite.example")
    served = edge.request(edge.http + "/.well-known/acme-challenge/t0ken")

    assert redirect.status == 301
    assert redirect.headers["Location"] == "https://streamsite.example/browse/?genre=crime"
    assert served.status == 200 and served.body == b"t0ken.thumbprint"


# --- Compression --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_text_answers_are_gzipped_at_the_edge_and_django_is_asked_for_none(edge, make_movie):
    for n in range(30):
        make_movie(f"Film {n}", overview="A long night in the city. " * 8)

    for path in ("/", "/api/movies", "/static/js/app.js"):
        plain = edge.request(edge.https + path)
        compressed = edge.request(edge.https + path, **{"Accept-Encoding": "gzip"})

        assert compressed.status == plain.status == 200, path
        assert compressed.headers["Content-Encoding"] == "gzip", path
        assert "Accept-Encoding" in compressed.headers["Vary"], path
        assert "Content-Encoding" not in plain.headers, path
        assert len(compressed.body) < len(plain.body) / 2, path
        assert gzip.decompress(compressed.body)[:100] == plain.body[:100], path


@pytest.mark.django_db(transaction=True)
def test_answers_to_requests_with_the_session_cookie_are_not_compressed(edge, make_movie):
    for n in range(30):
        make_movie(f"Film {n}", overview="A long night in the city. " * 8)
    cookie = {"Accept-Encoding": "gzip", "Cookie": "sessionid=abc"}

    for path in ("/", "/api/movies", "/admin/login/"):
        assert "Content-Encoding" not in edge.request(edge.https + path, **cookie).headers, path
    # Static files hold no secret: compressed whoever asks.
    static = edge.request(edge.https + "/static/js/app.js", **cookie)
    assert static.headers["Content-Encoding"] == "gzip"


# --- Request ids ------------------------------------------------------------------------------


@pytest.fixture
def django_log() -> Iterator[io.StringIO]:
    """The configured console handler's output (the live server runs in this process)."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


@pytest.mark.django_db(transaction=True)
def test_the_edge_makes_the_request_id_and_every_log_line_carries_it(edge, django_log):
    reply = edge.request(edge.https + "/api/does-not-exist", **{"X-Request-ID": "client-made"})

    request_id = reply.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's, not the client's
    assert reply.headers.get_all("X-Request-ID") == [request_id]
    assert edge.logged(request_id)["upstream_status"] == "404"
    django_lines = [line for line in django_log.getvalue().splitlines() if "does-not-exist" in line]
    assert django_lines and all(f"request_id={request_id} " in line for line in django_lines)
    assert "client-made" not in django_log.getvalue() + edge.access_log.read_text()


@pytest.mark.django_db(transaction=True)
def test_an_answer_from_the_micro_cache_carries_its_own_request_id(edge, make_movie):
    make_movie("Heat")

    first = edge.request(edge.https + "/api/genres")
    second = edge.request(edge.https + "/api/genres")

    assert second.headers["X-Edge-Cache"] == "HIT"
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert edge.logged(second.headers["X-Request-ID"])["cache"] == "HIT"


@pytest.mark.django_db(transaction=True)
def test_files_nginx_serves_itself_carry_a_request_id_too(edge):
    for path in ("/static/css/site.css", "/metrics", "/hls/"):
        reply = edge.request(edge.https + path)

        assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["X-Request-ID"]), path
