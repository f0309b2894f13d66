"""CMCD (CTA-5004) at the edges, with real nginx: the site's nginx writes the keys of every
segment request to a log format of its own, and the CDN edge keeps HLS under a key without the
CMCD argument, so viewers' ever-different CMCD never splits its cache."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cdn.edge_server import EdgeServer, running_edge
from tests.deploy.edge import Edge
from tests.deploy.test_nginx import HLS_SIGNING_KEY, get, running_site
from videos import signing

pytestmark = pytest.mark.django_db(transaction=True)

SESSION = "6217a7a6-1cb2-45a8-9bb5-53639709d039"


def cmcd(**keys: str | int | bool) -> str:
    """A CMCD query argument as hls.js sends it: keys in order, strings quoted, flags bare,
    the whole URL-encoded."""
    items = []
    for key in sorted(keys):
        value = keys[key]
        if value is True:
            items.append(key)
        elif isinstance(value, str) and key in {"sid", "cid"}:
            items.append(f'{key}="{value}"')
        else:
            items.append(f"{key}={value}")
    return "CMCD=" + urllib.parse.quote(",".join(items), safe="")


def segment(root: Path, asset: int = 7, name: str = "240p/seg_00001.ts") -> str:
    path = Path(root) / str(asset) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x47" + bytes(187))
    return signing.signed_url(asset, name)


@pytest.fixture
def site(live_server, settings, tmp_path: Path) -> Iterator[Edge]:
    settings.HLS_SIGNING_KEY = HLS_SIGNING_KEY
    settings.HLS_ROOT = tmp_path / "hls"
    with running_site(
        upstream=live_server.url.removeprefix("http://"),
        directory=tmp_path,
        hls_root=settings.HLS_ROOT,
    ) as running:
        yield running


def test_every_segment_request_logs_its_cmcd_keys(site, settings):
    url = segment(settings.HLS_ROOT)
    query = cmcd(
        bl=2100, br=442, cid="42", d=2000, mtp=5300, ot="v", rtp=900, sf="h", sid=SESSION,
        st="v", su=True, tb=1063,
    )  # fmt: skip

    status, headers, _ = get(f"{site.internal}{url}?{query}")

    assert status == 200
    request_id = headers["X-Request-ID"]
    line = site.logged(request_id)
    assert {key: line[key] for key in ("sid", "cid", "ot", "br", "bl", "mtp", "tb", "d")} == {
        "sid": SESSION, "cid": "42", "ot": "v", "br": "442", "bl": "2100", "mtp": "5300",
        "tb": "1063", "d": "2000",
    }  # fmt: skip
    assert (line["rtp"], line["su"], line["bs"]) == ("900", "1", "0")
    logged = next(text for text in site.log_lines() if request_id in text)
    assert logged.startswith("cmcd ") and '"GET /_hls/7/240p/seg_00001.ts"' in logged
    # A request without CMCD (another player) is logged too, its keys as "-".
    status, headers, _ = get(f"{site.internal}{url}")
    assert status == 200
    assert site.logged(headers["X-Request-ID"])["sid"] == "-"


@pytest.fixture
def cdn_edge(live_server, settings, tmp_path: Path) -> Iterator[EdgeServer]:
    """The CDN edge (deploy/nginx/edge) in front of the live site, which serves /hls/ itself."""
    settings.HLS_SIGNING_KEY = HLS_SIGNING_KEY
    settings.HLS_ROOT = tmp_path / "hls"
    settings.HLS_SERVED_BY_DJANGO = True
    with running_edge(
        origin=live_server.url.removeprefix("http://"),
        directory=tmp_path / "edge",
        hls_signing_key=HLS_SIGNING_KEY,
    ) as running:
        yield running


def test_the_cdn_edge_keeps_one_copy_of_a_segment_whatever_its_cmcd(cdn_edge, settings):
    url = cdn_edge.public + segment(settings.HLS_ROOT)
    statuses = []
    for query in (
        cmcd(bl=0, br=442, ot="v", sid=SESSION, su=True),
        cmcd(bl=8000, br=442, ot="v", sid="another-viewer", mtp=900),
        "",
        f"{cmcd(bl=100, sid=SESSION)}&other=1",  # other arguments still count
    ):
        status, headers, _ = get(f"{url}?{query}" if query else url)
        assert status == 200
        statuses.append(headers["X-Edge-Cache"])

    assert statuses == ["MISS", "HIT", "HIT", "MISS"]
    # The CMCD-less key is what a purge names: the segment's own URI.
    assert re.fullmatch(r"/hls/[^/]+/\d+/7/240p/seg_00001\.ts", urllib.parse.urlsplit(url).path)
