"""Whole responses through streamsite.cache: ``X-Cache``, ``ETag``, ``Cache-Control``, 304s and the
degraded marking of stale answers.

Two decorators, one per kind of endpoint:

* ``api_response`` for an APIView class: the rendered JSON body is shared by every caller,
  since the catalog API says nothing personal; only ``Cache-Control`` differs (public for
  anonymous callers, private for signed-in ones and API keys).
* ``page`` for a page view: only anonymous viewers share entries. A request carrying a session
  (or a flash-message cookie, or credentials) bypasses the cache entirely, and a page is never
  stored if rendering it set a cookie or generated a CSRF token.

Keys are built from the URL arguments and the query string exactly as sent, sorted; the view
validates on a miss and only successful answers are stored, so junk parameters (a 400) never
create entries. Validation is not done before the lookup because it can need the database
(genre slugs), which is precisely what a stale answer must do without.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags, urlencode
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from streamsite import cache, edge_tags

# What the banner include renders when not degraded; a stale page gets the banner in its place.
DEGRADED_MARKER = b"<!--degraded-banner-->"
DEGRADED_TEMPLATE = "degraded_banner.html"
# Any of these on a request means a person we may know: their pages are theirs alone.
_PERSONAL_HEADERS = ("HTTP_AUTHORIZATION",)

View = TypeVar("View", bound=Callable[..., HttpResponseBase])
APIViewT = TypeVar("APIViewT", bound=APIView)


@dataclass(frozen=True)
class StoredResponse:
    body: bytes
    content_type: str
    etag: str
    # The Cache-Tag value public answers carry (streamsite.edge_tags); "" in older entries.
    cache_tag: str = ""


class _Uncacheable(Exception):  # noqa: N818 - a signal between loader and decorator, not an error
    """The view answered something that must not be stored (an error page, a cookie...)."""

    def __init__(self, response: HttpResponseBase) -> None:
        super().__init__()
        self.response = response


def api_response(namespace: str, name: str) -> Callable[[type[APIViewT]], type[APIViewT]]:
    """Class decorator: cache the JSON the view's ``get(self, request, **kwargs)`` answers (200).

    Every request goes through DRF first, hit or miss: authentication, permissions, throttles
    and content negotiation answer a cached copy exactly as they answer a fresh one. Only the
    work of ``get`` is cached.

    When one of those steps fails because the database is unavailable (authenticating a
    signed-in caller or an API key needs it), the cached copy answers anyway, marked private:
    the answer is public, the same for everyone, so the copy an anonymous caller gets is theirs
    too.
    """

    def decorate(view_class: type[APIViewT]) -> type[APIViewT]:
        view_class.get = _cached_get(view_class.get, namespace, name)  # type: ignore[attr-defined]
        handle_exception = view_class.handle_exception

        def handle_exception_from_cache(view: APIView, exc: Exception) -> HttpResponseBase:
            response = handle_exception(view, exc)
            request = view.request
            if request.method in ("GET", "HEAD") and _database_unavailable(response):
                key_args = _api_key(view.kwargs, request.query_params)
                found = cache.peek(namespace, name, *key_args) or cache.stale(
                    namespace, name, *key_args
                )
                if found is not None:
                    stored = _degraded_json(found.value) if found.degraded else found.value
                    return _respond(request, stored, found.status, public=False)
            return response

        view_class.handle_exception = handle_exception_from_cache  # type: ignore[method-assign]
        return view_class

    return decorate


def _cached_get(get: View, namespace: str, name: str) -> View:
    @functools.wraps(get)
    def cached_get(view: Any, request: Any, **kwargs: Any) -> HttpResponseBase:
        def load() -> StoredResponse:
            with edge_tags.collecting() as tags:
                response = get(view, request, **kwargs)
                if not isinstance(response, Response) or response.status_code != 200:
                    raise _Uncacheable(response)
                body = JSONRenderer().render(response.data)
            return _stored(body, "application/json", _cache_tag(namespace, name, tags))

        key_args = _api_key(kwargs, request.query_params)
        try:
            result = cache.cached(namespace, name, *key_args, loader=load, purpose=namespace)
        except _Uncacheable as uncacheable:
            return uncacheable.response
        stored = _degraded_json(result.value) if result.degraded else result.value
        return _respond(request, stored, result.status, public=not _signed_in(request))

    return cached_get  # type: ignore[return-value]


def _api_key(kwargs: Mapping[str, Any], query: Any) -> tuple[str, ...]:
    return (*_url_args(kwargs), _query(query))


def page(namespace: str, name: str, *, params: Collection[str] = ()) -> Callable[[View], View]:
    """Cache a page for anonymous viewers; ``params`` are the query parameters it reads.

    A request with any other parameter (tracking tags, typos) is served but not stored, so
    nobody can fill the cache with variants of one page.
    """
    known = frozenset(params)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if _personal(request):
                response = view(request, *args, **kwargs)
                response.setdefault("Cache-Control", "private, no-cache")
                return response
            if not known.issuperset(request.GET):
                return view(request, *args, **kwargs)

            def load() -> StoredResponse:
                with edge_tags.collecting() as tags:
                    response = view(request, *args, **kwargs)
                if not _shareable(request, response):
                    raise _Uncacheable(response)
                cache_tag = _cache_tag(namespace, name, tags)
                return _stored(response.content, response["Content-Type"], cache_tag)

            key_args = (*args, *_url_args(kwargs), _query(request.GET))
            try:
                result = cache.cached(namespace, name, *key_args, loader=load, purpose=namespace)
            except _Uncacheable as uncacheable:
                return uncacheable.response
            stored = _degraded_html(result.value) if result.degraded else result.value
            response = _respond(request, stored, result.status, public=True)
            # The same URL shows a signed-in viewer their own page: shared caches must key on it.
            patch_vary_headers(response, ("Cookie",))
            return response

        return wrapper  # type: ignore[return-value]

    return decorate


# --- Building responses ---------------------------------------------------------------------


def _stored(body: bytes, content_type: str, cache_tag: str = "") -> StoredResponse:
    return StoredResponse(
        body=body, content_type=content_type, etag=_etag(body), cache_tag=cache_tag
    )


def _cache_tag(namespace: str, name: str, tags: set[str]) -> str:
    """The view's own tag (``catalog-home``) and the rows the answer showed (``movie-42``):
    a purge names the rows of an edit, and the views whose lists it may enter."""
    return edge_tags.header(tags, always=[f"{namespace}-{name}"])


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _respond(
    request: HttpRequest, stored: StoredResponse, status: str, *, public: bool
) -> HttpResponse:
    if _etag_matches(request, stored.etag):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(stored.body, content_type=stored.content_type)
    response["ETag"] = stored.etag
    response["X-Cache"] = status.upper()
    response["Cache-Control"] = _cache_control(public=public, stale=status == "stale")
    if public and status != "stale" and stored.cache_tag:
        response[edge_tags.HEADER] = stored.cache_tag
    return response


def _cache_control(*, public: bool, stale: bool) -> str:
    if stale:
        # A degraded answer may be kept, but must be checked again before each reuse.
        return f"{'public' if public else 'private'}, no-cache"
    if not public:
        return f"private, max-age={cache.ttl('http')}"
    # Browsers keep it briefly (they cannot be told of an edit); the edge keeps it for
    # CDN_S_MAXAGE, which is long when the cdn app purges it on every edit.
    return f"public, max-age={cache.ttl('http')}, s-maxage={settings.CDN_S_MAXAGE}"


def _etag_matches(request: HttpRequest, etag: str) -> bool:
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    # If-None-Match uses the weak comparison: W/"x" matches "x".
    candidates = {tag.removeprefix("W/") for tag in parse_etags(header)}
    return "*" in candidates or etag in candidates


def _degraded_json(stored: StoredResponse) -> StoredResponse:
    data = json.loads(stored.body)
    if isinstance(data, dict):
        data["degraded"] = True
    return _stored(JSONRenderer().render(data), stored.content_type)


def _degraded_html(stored: StoredResponse) -> StoredResponse:
    banner = render_to_string(DEGRADED_TEMPLATE, {"degraded": True}).strip().encode()
    return _stored(stored.body.replace(DEGRADED_MARKER, banner, 1), stored.content_type)


# --- Who is asking, and what may be shared --------------------------------------------------


def _database_unavailable(response: HttpResponseBase) -> bool:
    """The 503 streamsite.api gives while the database is unavailable."""
    data = getattr(response, "data", None)
    return (
        response.status_code == 503
        and isinstance(data, dict)
        and data.get("error") == ("unavailable")
    )


def _personal(request: HttpRequest) -> bool:
    cookies = request.COOKIES
    return (
        settings.SESSION_COOKIE_NAME in cookies
        or "messages" in cookies
        or any(header in request.META for header in _PERSONAL_HEADERS)
    )


def _signed_in(request: Any) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated) or "HTTP_AUTHORIZATION" in request.META


def _shareable(request: HttpRequest, response: HttpResponseBase) -> bool:
    return (
        isinstance(response, HttpResponse)
        and response.status_code == 200
        and not response.cookies
        # A CSRF token was generated into this page: it belongs to this visitor only.
        and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
        and "private" not in response.get("Cache-Control", "")
        and "no-store" not in response.get("Cache-Control", "")
    )


def _url_args(kwargs: Mapping[str, Any]) -> list[str]:
    return [f"{name}={kwargs[name]}" for name in sorted(kwargs)]


def _query(params: Any) -> str:
    return urlencode(sorted((key, params.getlist(key)) for key in params), doseq=True)
