"""Cache warming: build what most visits start from, so the first viewers after a deploy, an
edit or an expiry find it cached.

Warmed: home, the first page of every browse sort and genre, the first page of every API list
ordering and genre, the genre list, and the page and API detail of the ``top_n`` most popular
movies. Each target's view is called, through its cache decorator, with the request an
anonymous visitor's first visit would make, so the entries written are exactly the ones
visitors read; inside ``cache.refreshing()`` each one is reloaded and rewritten even if still
fresh, which pushes its expiry forward instead of finding it.

The views are called directly, not through the middleware: the warmer is the site building its
own answers, not a visitor, so rate limits and DDoS counters never see it and nothing has to be
switched off to let it through (a settings override would switch it off for the whole process,
every visitor's request included, when tasks run inside the web process).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponseBase
from django.urls import resolve, reverse
from django.utils.http import urlencode

from catalog.models import Genre, Movie
from catalog.ordering import DEFAULT, MENU, ORDERINGS
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
        *(_with(browse, sort=name) for name in MENU if name != DEFAULT),
        *(_with(browse, genre=slug) for slug in genres),
        *(reverse("catalog:detail", kwargs={"slug": slug}) for _, slug in top),
        api_list,
        *(_with(api_list, ordering=name) for name in ORDERINGS if name != DEFAULT),
        *(_with(api_list, genre=slug) for slug in genres),
        reverse("genre-list"),
        *(reverse("movie-detail", kwargs={"movie_id": pk}) for pk, _ in top),
    ]


def warm_catalog(*, top_n: int, progress: Progress | None = None) -> WarmResult:
    targets = warm_targets(top_n=top_n)
    result = WarmResult()
    with cache.refreshing():
        for position, path in enumerate(targets, start=1):
            response = build(path)
            if response.status_code == 200:
                result.warmed += 1
            else:
                result.failed.append((path, response.status_code))
            if progress is not None:
                x_cache = response.get("X-Cache", "")
                progress(position, len(targets), path, response.status_code, x_cache)
    return result


def build(path: str) -> HttpResponseBase:
    """The answer of the view behind ``path`` (its cache decorator included) to an anonymous
    first-time visitor's GET."""
    request = _anonymous_get(path)
    match = request.resolver_match = resolve(request.path_info)  # as the handler sets it
    return match.func(request, *match.args, **match.kwargs)


def _anonymous_get(path: str) -> WSGIRequest:
    # What the WSGI server hands Django for the visit: over HTTPS (behind TLS termination a
    # plain request would get the HTTPS redirect), no cookie, no credentials.
    url = urlsplit(path)
    host = _host()
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "SERVER_NAME": host,
            "SERVER_PORT": "443",
            "HTTP_HOST": host,
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "https",
            "wsgi.input": io.BytesIO(b""),
        }
    )
    request.user = AnonymousUser()  # what the authentication middleware sets for a visitor
    return request


def _with(path: str, **params: str) -> str:
    return f"{path}?{urlencode(params)}"


def _host() -> str:
    """A host the site accepts, so the warm requests pass ALLOWED_HOSTS."""
    for host in settings.ALLOWED_HOSTS:
        if host != "*":
            return host.lstrip(".")
    return "localhost"
