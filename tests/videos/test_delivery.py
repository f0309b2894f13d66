"""Signed HLS delivery: one set of promises, kept alike by nginx (deploy/) and by Django's view
(videos/views.py, where no nginx is in front), so the player cannot tell them apart.

The renditions are real: ffmpeg makes a two-second ``testsrc`` ladder of one rung, once per
session. Every shared test runs twice, against Django (live server) and against the shipped
nginx template run by a real nginx.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.deploy.test_nginx import HLS_SIGNING_KEY, running_nginx
from videos import signing

FFMPEG = shutil.which("ffmpeg")
ASSET, OTHER = 7, 8
SEGMENT = "144p/seg_00001.ts"
PLAYLIST = "master.m3u8"
SUBTITLES = "subtitles/en.vtt"
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nJoyeux anniversaire, Noël !\n"
SECRET = b"an uploaded source, never to be served"


class Reply(NamedTuple):
    status: int
    headers: Message
    body: bytes


def fetch(url: str, method: str = "GET", **headers: str) -> Reply:
    """One request with the path sent exactly as written (no client-side ".." folding)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, parts.path, headers=headers)
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def nginx_signature(asset_id: int, expires: int, key: str) -> str:
    """nginx's secure_link_md5 "$expires/$asset <key>", written out from its documentation."""
    digest = hashlib.md5(f"{expires}/{asset_id} {key}".encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_rendition(directory: Path) -> None:
    """A real one-rung HLS rendition, as the pipeline lays it out, in a few kilobytes."""
    assert FFMPEG, "ffmpeg is required (apt-get install ffmpeg)"
    rung = directory / "144p"
    rung.mkdir(parents=True)
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error",
         "-f", "lavfi", "-i", "testsrc=size=256x144:rate=10:duration=2",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p",
         "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod", "-start_number", "1",
         "-hls_segment_filename", str(rung / "seg_%05d.ts"), str(rung / "index.m3u8")],
        check=True,
    )  # fmt: skip
    (directory / PLAYLIST).write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=256x144\n144p/index.m3u8\n"
    )
    (directory / "subtitles").mkdir()
    (directory / SUBTITLES).write_text(VTT, encoding="utf-8")


@pytest.fixture(scope="session")
def hls_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HLS_ROOT with two assets; beside it, a source that must never leave."""
    video_root = tmp_path_factory.mktemp("videos")
    root = video_root / "hls"
    make_rendition(root / str(ASSET))
    shutil.copytree(root / str(ASSET), root / str(OTHER))
    (root / str(OTHER) / PLAYLIST).write_text("#EXTM3U\n# asset 8 only\n")
    (root / str(ASSET) / "source.mp4").write_bytes(SECRET)  # not a type we serve
    (video_root / "sources").mkdir()
    (video_root / "sources" / "secret.ts").write_bytes(SECRET)
    return root


@pytest.fixture(params=["nginx", "django"])
def server(request, live_server, settings, hls_files: Path, tmp_path: Path) -> Iterator[str]:
    """Where the player fetches /hls/ from: nginx (Django's view off), or Django alone."""
    settings.HLS_ROOT = hls_files
    settings.HLS_SIGNING_KEY = HLS_SIGNING_KEY
    settings.HLS_SERVED_BY_DJANGO = request.param == "django"
    if request.param == "django":
        yield live_server.url
        return
    upstream = live_server.url.removeprefix("http://")
    with running_nginx(upstream=upstream, directory=tmp_path, hls_root=hls_files) as base:
        yield base


def file_bytes(hls_files: Path, name: str, asset_id: int = ASSET) -> bytes:
    return (hls_files / str(asset_id) / name).read_bytes()


# --- What a player gets ----------------------------------------------------------------------


def test_a_signed_segment_is_sent_whole_as_immutable_video(server, hls_files):
    reply = fetch(server + signing.signed_url(ASSET, SEGMENT))

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "video/mp2t"
    assert reply.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert reply.headers["Accept-Ranges"] == "bytes"
    assert reply.body == file_bytes(hls_files, SEGMENT)
    assert reply.body[0] == 0x47  # an MPEG-TS sync byte: ffmpeg's real segment


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-187", 0, 187), ("bytes=188-", 188, -1), ("bytes=-188", -188, -1)],
    ids=["first-packet", "from-offset", "last-packet"],
)
def test_a_byte_range_of_a_segment_is_sent_as_206(server, hls_files, header, first, last):
    whole = file_bytes(hls_files, SEGMENT)
    size = len(whole)
    start, end = first % size, last % size

    reply = fetch(server + signing.signed_url(ASSET, SEGMENT), Range=header)

    assert reply.status == 206
    assert reply.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert reply.headers["Content-Type"] == "video/mp2t"
    assert reply.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert reply.body == whole[start : end + 1]


def test_a_range_past_the_end_is_refused_with_416_and_the_size(server, hls_files):
    size = len(file_bytes(hls_files, SEGMENT))

    reply = fetch(server + signing.signed_url(ASSET, SEGMENT), Range=f"bytes={size}-")

    assert reply.status == 416
    assert reply.headers["Content-Range"] == f"bytes */{size}"


def test_playlists_are_short_lived_and_lead_the_player_to_every_segment(server, hls_files):
    master_url = server + signing.signed_url(ASSET, PLAYLIST)
    master = fetch(master_url)

    assert master.status == 200
    assert master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert master.headers["Cache-Control"] == "public, max-age=60"
    assert master.body == file_bytes(hls_files, PLAYLIST)
    # Relative URLs resolve under the one signed prefix, as hls.js resolves them.
    fetched = []
    for media_url in uris(master_url, master.body):
        media = fetch(media_url)
        assert media.status == 200
        assert media.headers["Cache-Control"] == "public, max-age=60"
        for segment_url in uris(media_url, media.body):
            segment = fetch(segment_url)
            assert (segment.status, segment.headers["Content-Type"]) == (200, "video/mp2t")
            fetched.append(segment_url.rsplit("/", 2)[-2:])
    assert fetched == [["144p", "seg_00001.ts"], ["144p", "seg_00002.ts"]]


def uris(base: str, playlist: bytes) -> list[str]:
    lines = playlist.decode().splitlines()
    return [urllib.parse.urljoin(base, line) for line in lines if line and line[0] != "#"]


def test_subtitles_are_sent_as_utf8_webvtt(server):
    reply = fetch(server + signing.signed_url(ASSET, SUBTITLES))

    assert reply.status == 200
    assert reply.headers["Content-Type"].replace(" ", "").lower() == "text/vtt;charset=utf-8"
    assert reply.headers["Cache-Control"] == "public, max-age=300"
    assert reply.body.decode("utf-8") == VTT


def test_head_answers_the_headers_without_the_body(server, hls_files):
    reply = fetch(server + signing.signed_url(ASSET, SEGMENT), method="HEAD")

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "video/mp2t"
    assert reply.headers["Content-Length"] == str(len(file_bytes(hls_files, SEGMENT)))
    assert reply.body == b""


def test_other_methods_are_refused(server):
    reply = fetch(server + signing.signed_url(ASSET, SEGMENT), method="POST")

    assert reply.status == 405
    assert b"\x47" not in reply.body[:1]


# --- What a player does not get --------------------------------------------------------------


def forged_links(expires: int) -> dict[str, tuple[str, int]]:
    """(signature, expires) pairs for ASSET that nobody holding the key made."""
    return {
        "made-up": ("A" * 22, expires),
        "another-key": (nginx_signature(ASSET, expires, "guessed0key"), expires),
        "expiry-pushed-back": (nginx_signature(ASSET, expires, HLS_SIGNING_KEY), expires + 3600),
    }


@pytest.mark.parametrize("file", [SEGMENT, PLAYLIST, SUBTITLES])
@pytest.mark.parametrize("forgery", ["made-up", "another-key", "expiry-pushed-back"])
def test_a_forged_link_is_refused_with_403(server, file, forgery):
    signature, expires = forged_links(signing.expiry())[forgery]

    reply = fetch(f"{server}/hls/{signature}/{expires}/{ASSET}/{file}")

    assert reply.status == 403


@pytest.mark.parametrize("file", [SEGMENT, PLAYLIST])
def test_an_expired_link_is_refused_with_403(server, file):
    expires = int(time.time()) - 1
    signature = signing.signature(ASSET, expires)
    assert signature == nginx_signature(ASSET, expires, HLS_SIGNING_KEY)  # well signed, but late

    reply = fetch(f"{server}/hls/{signature}/{expires}/{ASSET}/{file}")

    assert reply.status == 403


def test_a_link_signed_for_one_asset_opens_no_other(server):
    expires = signing.expiry()
    signature = signing.signature(ASSET, expires)

    reply = fetch(f"{server}/hls/{signature}/{expires}/{OTHER}/{PLAYLIST}")

    assert reply.status == 403


@pytest.mark.parametrize(
    "path",
    [
        f"{ASSET}/../{OTHER}/{PLAYLIST}",
        f"{ASSET}/144p/../../{OTHER}/{PLAYLIST}",
        f"{ASSET}/%2e%2e/{OTHER}/{PLAYLIST}",
        f"{ASSET}/..%2f{OTHER}/{PLAYLIST}",
        f"{ASSET}/../../sources/secret.ts",
        f"{ASSET}/../../../sources/secret.ts",
    ],
)
def test_paths_escaping_the_signed_asset_are_refused(server, path):
    expires = signing.expiry()
    prefix = f"/hls/{signing.signature(ASSET, expires)}/{expires}"

    reply = fetch(f"{server}{prefix}/{path}")

    # nginx resolves ".." first and finds the signature wrong for where the path leads (403);
    # Django finds the file outside the signed asset's directory (404). Neither sends it.
    assert reply.status in (403, 404)
    assert b"asset 8 only" not in reply.body
    assert SECRET not in reply.body


@pytest.mark.parametrize(
    "path",
    [
        "{signature}/{expires}/7/144p/seg_00001.ts%00",
        "%C3%A9t%C3%A9/{expires}/7/master.m3u8",
        "{signature}/{expires}/7/144p/" + "a" * 300 + ".ts",
        "{signature}/99999999999999999999999/7/master.m3u8",
    ],
    ids=["nul-byte", "non-ascii-signature", "name-too-long", "huge-expiry"],
)
def test_malformed_links_are_refused_never_an_error(server, path):
    expires = signing.expiry()
    signature = signing.signature(ASSET, expires)

    reply = fetch(f"{server}/hls/" + path.format(signature=signature, expires=expires))

    assert 400 <= reply.status < 500


@pytest.mark.parametrize("file", ["source.mp4", "144p/seg_99999.ts", "144p/", "144p"])
def test_files_of_other_types_and_missing_files_are_404(server, file):
    reply = fetch(server + signing.signed_url(ASSET, file))

    assert reply.status == 404
    assert SECRET not in reply.body


# --- Django's part ---------------------------------------------------------------------------


def test_django_serves_no_hls_when_nginx_does(live_server, settings, hls_files):
    settings.HLS_ROOT = hls_files
    settings.HLS_SERVED_BY_DJANGO = False

    reply = fetch(live_server.url + signing.signed_url(ASSET, SEGMENT))

    assert reply.status == 404
    assert reply.body != file_bytes(hls_files, SEGMENT)
