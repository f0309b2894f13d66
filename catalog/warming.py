"""Cache warming: request what most visits start from, so the first viewers after a deploy, an
edit or an expiry find it cached.

Warmed: home, the first page of every browse sort and genre, the first page of every API list
ordering and genre, the genre list, and the page and API detail of the ``top_n`` most popular
movies. Each target is requested through the whole Django stack as an anonymous visitor would
request it, so the entries written are exactly the ones visitors read; inside
``cache.refreshing()`` each one is reloaded and rewritten even if still fresh, which pushes its
expiry forward instead of finding it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils.http import urlencode

from catalog.api import ORDERINGS
from catalog.models import Genre, Movie
from catalog.views import SORTS
from streamsite import cache

# Called after each target: position (from 1), total, path, HTTP status, X-Cache or "".
Progress = Callable[[int, int, str, int, str], None]


@dataclass
class WarmResult:
    warmed: int = 0
    failed: list[tuple[str, int]] = field(default_factory=list)


def warm_targets(*, top_n: int) -> list[str]:
    """The paths to warm, most visited first."""
    genres = list(
        Genre.objects.filter(movies__is_published=True)
        .distinct()
        .order_by("name")
        .values_list("slug", flat=True)
    )
    top = list(Movie.objects.published().popular().values_list("pk", "slug")[:top_n])
    browse, api_list = reverse("catalog:browse"), reverse("movie-list")
    return [
        reverse("catalog:home"),
        browse,
        *(_with(browse, sort=sort) for sort in SORTS if sort != "popular"),
        *(_with(browse, genre=slug) for slug in genres),
        *(reverse("catalog:detail", kwargs={"slug": slug}) for _, slug in top),
        api_list,
        *(_with(api_list, ordering=name) for name in ORDERINGS if name != "popularity"),
        *(_with(api_list, genre=slug) for slug in genres),
        reverse("genre-list"),
        *(reverse("movie-detail", kwargs={"movie_id": pk}) for pk, _ in top),
    ]


def warm_catalog(*, top_n: int, progress: Progress | None = None) -> WarmResult:
    targets = warm_targets(top_n=top_n)
    client = Client(HTTP_HOST=_host(), raise_request_exception=False)
    result = WarmResult()
    # The warmer is the site talking to itself: visitor rate limits and DDoS counters are not
    # for it (a warm run makes a request per target, well over the anonymous API limit).
    with cache.refreshing(), override_settings(SHIELD_ENABLED=False):
        for position, path in enumerate(targets, start=1):
            client.cookies.clear()  # every target as a first-time, anonymous visitor
            # secure: behind TLS termination a plain request would only get the HTTPS redirect.
            response = client.get(path, secure=True)
            if response.status_code == 200:
                result.warmed += 1
            else:
                result.failed.append((path, response.status_code))
            if progress is not None:
                x_cache = response.get("X-Cache", "")
                progress(position, len(targets), path, response.status_code, x_cache)
    return result


def _with(path: str, **params: str) -> str:
    return f"{path}?{urlencode(params)}"


def _host() -> str:
    """A host the site accepts, so the warm requests pass ALLOWED_HOSTS."""
    for host in settings.ALLOWED_HOSTS:
        if host != "*":
            return host.lstrip(".")
    return "localhost"
