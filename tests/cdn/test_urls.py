"""Public files are addressed through the edge: static files, artwork, HLS, resized images."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template import engines
from django.templatetags.static import static
from PIL import Image

from shield.csp import policy
from videos import signing

EDGE = "https://cdn.example.org"


def jpeg(width: int = 600, height: int = 900, colour: str = "navy") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def render(text: str, **context: object) -> str:
    return engines["django"].from_string(text).render(context)


def test_without_an_edge_urls_stay_on_our_origin(settings, media):
    settings.CDN_BASE_URL = ""

    assert static("css/site.css") == "/static/css/site.css"
    assert default_storage.url("posters/heat.jpg") == "/media/posters/heat.jpg"
    assert signing.signed_url(7, "master.m3u8").startswith("/hls/")


def test_static_media_and_hls_urls_go_through_the_edge(settings, media):
    settings.CDN_BASE_URL = EDGE

    assert static("css/site.css") == f"{EDGE}/static/css/site.css"
    assert render("{% load static %}{% static 'js/watch.js' %}") == f"{EDGE}/static/js/watch.js"
    assert default_storage.url("posters/heat.jpg") == f"{EDGE}/media/posters/heat.jpg"
    url = signing.signed_url(7, "master.m3u8")
    assert re.fullmatch(rf"{EDGE}/hls/[\w-]+/\d+/7/master\.m3u8", url)


@pytest.mark.django_db
def test_the_content_security_policy_allows_the_edge_where_it_serves(settings):
    settings.CDN_BASE_URL = EDGE

    directives = dict(
        (part.split()[0], part.split()[1:]) for part in policy(player=True).split("; ")
    )

    for name in ("script-src", "style-src", "img-src", "media-src", "connect-src", "font-src"):
        assert EDGE in directives[name], name
    assert EDGE not in directives["frame-src"]
    assert EDGE not in directives["default-src"]


@pytest.mark.django_db
def test_cloudflare_transforms_uploaded_raster_artwork_with_a_srcset(settings, media, make_movie):
    settings.CDN_PROVIDER, settings.CDN_BASE_URL = "cloudflare", EDGE
    movie = make_movie("Heat")
    movie.poster_file.save("heat.jpg", ContentFile(jpeg()), save=True)
    name = movie.poster_file.name

    attrs = render('{% load cdn %}<img {% image_attrs m "poster" 342 %}>', m=movie)

    prefix = f"{EDGE}/cdn-cgi/image/width={{}},quality=82,format=auto/media/{name}"
    assert f'src="{prefix.format(342)}"' in attrs
    srcset = re.search(r'srcset="([^"]+)"', attrs).group(1)
    assert srcset.split(", ") == [f"{prefix.format(w)} {w}w" for w in (185, 342, 500)]
    assert 'sizes="342px"' in attrs


@pytest.mark.django_db
def test_our_edge_resizes_through_the_origin_in_bounded_widths(settings, media, make_movie, client):
    settings.CDN_PROVIDER, settings.CDN_BASE_URL = "nginx", EDGE
    movie = make_movie("Heat")
    movie.poster_file.save("heat.jpg", ContentFile(jpeg(600, 900)), save=True)

    url = movie.poster_url(width=300)  # rounded up to a width the edge makes
    assert url == f"{EDGE}/cdn/image/342/{movie.poster_file.name}"

    answer = client.get(url.removeprefix(EDGE))
    assert answer.status_code == 200
    assert answer["Content-Type"] == "image/jpeg"
    assert "s-maxage=" in answer["Cache-Control"]
    with Image.open(io.BytesIO(answer.content)) as image:
        assert image.size == (342, 513)
    # No upscaling: wider than the file is the file's own width.
    widest = client.get(f"/cdn/image/780/{movie.poster_file.name}")
    with Image.open(io.BytesIO(widest.content)) as image:
        assert image.size == (600, 900)
    # Any other width, a path outside MEDIA_ROOT, or no image at all: nothing.
    assert client.get(f"/cdn/image/343/{movie.poster_file.name}").status_code == 404
    assert client.get("/cdn/image/342/../secret.jpg").status_code == 404
    assert client.get("/cdn/image/342/posters/missing.jpg").status_code == 404


@pytest.mark.django_db
def test_the_resizing_view_is_off_without_our_edge(settings, media, make_movie, client):
    settings.CDN_PROVIDER, settings.CDN_BASE_URL = "none", ""
    movie = make_movie("Heat")
    movie.poster_file.save("heat.jpg", ContentFile(jpeg()), save=True)

    assert movie.poster_url(width=342) == f"/media/{movie.poster_file.name}"
    assert client.get(f"/cdn/image/342/{movie.poster_file.name}").status_code == 404


@pytest.mark.django_db
def test_svg_and_tmdb_artwork_pass_through_unchanged(settings, make_movie):
    settings.CDN_PROVIDER, settings.CDN_BASE_URL = "cloudflare", EDGE
    generated = make_movie("Heat")
    tmdb = make_movie("Alien", poster_path="/alien.jpg")

    svg = render('{% load cdn %}{% image_attrs m "poster" 342 %}', m=generated)
    remote = render('{% load cdn %}{% image_attrs m "poster" 342 %}', m=tmdb)

    assert svg == f'src="{EDGE}/artwork/{generated.slug}/poster.svg"'  # one URL: no srcset
    assert "cdn-cgi" not in remote
    assert f'src="{settings.TMDB_IMAGE_URL}/w342/alien.jpg"' in remote
