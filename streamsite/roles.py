"""Service roles: which part of the site a process serves (``SERVICE_ROLE``).

One code base and one image; nginx (deploy/nginx) is the gateway that sends each path to the
pool of its role, and each process mounts only that role's routes. ``ROUTES`` is the same rule
as the gateway's locations, written for Django's paths (no leading slash): the first prefix a
path starts with names its role, and a path no prefix claims is a page. tests/topology sends a
request for every route through the real gateway and checks the instance that answered mounts it.

Routes of other roles stay in the URL map for building links (the watch page links to the
progress API, every page to the API docs, the admin to movie pages) but match no request: the
process answers them 404, as a route that does not exist. Health checks and ``/metrics`` are
mounted on every role: load balancers and Prometheus call each instance directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.urls import URLPattern, URLResolver

ALL = "all"
DEFAULT_ROLE = "web"
ROUTES: tuple[tuple[str, str], ...] = (
    ("api/streaming/progress", "progress"),
    ("api/streaming/sessions", "progress"),
    ("api/", "api"),
    ("admin/", "admin"),
)
EVERY_ROLE: tuple[str, ...] = ("api/health", "metrics")

Entry = URLPattern | URLResolver


def role_of(route: str) -> str | None:
    """The role that serves ``route`` (a path without its leading slash); None: every role."""
    if route.startswith(EVERY_ROLE):
        return None
    for prefix, role in ROUTES:
        if route.startswith(prefix):
            return role
    return DEFAULT_ROLE


def mount(patterns: Sequence[Entry], role: str, prefix: str = "") -> list[Entry]:
    """``patterns`` as a process of ``role`` serves them: others' routes reverse-only."""
    if role == ALL:
        return list(patterns)
    mounted: list[Entry] = []
    for entry in patterns:
        route = prefix + str(entry.pattern).removeprefix("^")
        if isinstance(entry, URLResolver) and rules_below(route):
            mounted.append(_with_patterns(entry, mount(entry.url_patterns, role, route)))
        elif role_of(route) in (None, role):
            mounted.append(entry)
        else:
            mounted.append(_reverse_only(entry))
    return mounted


def rules_below(route: str) -> bool:
    """Whether some rule names a longer path under ``route``: its routes must be sorted."""
    prefixes = [prefix for prefix, _ in ROUTES] + list(EVERY_ROLE)
    return any(prefix.startswith(route) and prefix != route for prefix in prefixes)


class _ReverseOnlyPattern(URLPattern):
    def resolve(self, path: str) -> None:
        return None


class _ReverseOnlyResolver(URLResolver):
    def resolve(self, path: str) -> None:
        return None


def _reverse_only(entry: Entry) -> Entry:
    if isinstance(entry, URLResolver):
        return _ReverseOnlyResolver(
            entry.pattern, entry.urlconf_name, entry.default_kwargs, entry.app_name,
            entry.namespace,
        )  # fmt: skip
    return _ReverseOnlyPattern(entry.pattern, entry.callback, entry.default_args, entry.name)


def _with_patterns(resolver: URLResolver, patterns: list[Entry]) -> URLResolver:
    return URLResolver(
        resolver.pattern, patterns, resolver.default_kwargs, resolver.app_name, resolver.namespace
    )
