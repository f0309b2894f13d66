"""Typed readers for environment variables.

Every setting that comes from the environment goes through one of these helpers, so a bad
value fails at start-up with ``ImproperlyConfigured`` naming the variable instead of surfacing
later as a confusing error deep in a request.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from typing import Any

import dj_database_url
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value is not None else None


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None or value == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_networks(
    name: str, default: list[str] | None = None
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A comma-separated list of CIDRs (a bare address counts as a /32 or /128)."""
    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name} has an invalid network {item!r}") from None
    return networks


def env_database(name: str, default: str) -> dict[str, Any]:
    """Parse a database URL (``postgres://…`` or ``sqlite:///…``) into a DATABASES entry."""
    url = env_str(name, default)
    try:
        config = dj_database_url.parse(url)
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
    engine = config.get("ENGINE", "")
    if engine not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
        raise ImproperlyConfigured(f"{name} must be a postgres:// or sqlite:// URL, got {url!r}")
    return config


def env_database_list(name: str) -> list[dict[str, Any]]:
    """Comma-separated ``postgres://`` URLs (read replicas), each parsed as env_database does."""
    configs = []
    for url in env_list(name):
        try:
            config = dj_database_url.parse(url)
        except (ValueError, KeyError) as exc:
            raise ImproperlyConfigured(f"{name} holds an invalid database URL: {exc}") from None
        if config.get("ENGINE") != "django.db.backends.postgresql":
            raise ImproperlyConfigured(f"{name} must list postgres:// URLs, got {url!r}")
        configs.append(config)
    return configs


def env_redis_url(name: str) -> str:
    url = env_str(name)
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"{name} must start with redis://, rediss:// or unix://")
    return url


def env_origin(name: str) -> str:
    """An origin (``https://host[:port]``, no path, query or trailing slash), or ""."""
    url = env_str(name).rstrip("/")
    if not url:
        return ""
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port: {url!r}") from None
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise ImproperlyConfigured(
            f"{name} must be an origin such as https://cdn.example.org (no path), got {url!r}"
        )
    return url


def weak_secret_key(key: str) -> bool:
    """Django's own test of a key (deploy check security.W009): too short, too few distinct
    characters, or still the ``django-insecure-`` placeholder ``startproject`` writes."""
    return (
        len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or key.startswith(SECRET_KEY_INSECURE_PREFIX)
    )
