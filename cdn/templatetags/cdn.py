"""``{% image_attrs movie "poster" 342 sizes="13rem" %}``: an ``<img>``'s src, srcset and sizes.

The object answers ``<kind>_url(width=…)`` (``Movie.poster_url``, ``Movie.backdrop_url``), which
gives each width's URL: through the edge and resized for our uploaded raster artwork, TMDb's
own sizes for TMDb's, one URL for SVG artwork (then there is no srcset). The srcset offers the
widths of ``CDN_IMAGE_WIDTHS`` from half to twice the width the page lays the image out at, so
small and high-density screens each fetch what they show.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def image_attrs(obj: Any, kind: str, width: int, sizes: str = "") -> SafeString:
    url_for = getattr(obj, f"{kind}_url")
    src = url_for(width=width)
    candidates: dict[str, int] = {}
    for candidate in settings.CDN_IMAGE_WIDTHS:
        if width / 2 <= candidate <= width * 2:
            candidates.setdefault(url_for(width=candidate), candidate)
    if len(candidates) < 2:
        return format_html('src="{}"', src)
    srcset = ", ".join(f"{url} {w}w" for url, w in candidates.items())
    return format_html('src="{}" srcset="{}" sizes="{}"', src, srcset, sizes or f"{width}px")
