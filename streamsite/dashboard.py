"""The admin dashboard's registry: small live figures ("tiles") and report links that each app
registers for itself.

``streamsite`` sits below every app, so it cannot ask them for their figures; instead each app
ships a ``dashboard`` module that registers its own, found at start-up the way Django finds
``admin`` modules (``discover()``). A tile reads its figure when the dashboard is shown and each
time the page polls ``/admin/dashboard.json``, so reading must be cheap (a count on an index, a
Redis read) and must not raise: a failing tile says so and the others still answer.

A new app adds its tiles without touching anything here, e.g. a CDN app's ``cdn/dashboard.py``::

    from streamsite import dashboard

    dashboard.register(
        "cdn-queue", label="CDN purge queue", read=lambda: dashboard.Reading(str(pending())),
        link="admin:cdn_purge_changelist", permission="cdn.view_purge", order=60,
    )
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import autodiscover_modules

from streamsite import cache, metrics

log = logging.getLogger(__name__)

State = Literal["ok", "warning", "alert", "idle"]


@dataclass(frozen=True)
class Reading:
    """What a tile shows now: a short value, a line of context, and how it looks."""

    value: str
    detail: str = ""
    state: State = "ok"


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    read: Callable[[], Reading]
    order: int = 100
    link: str = ""  # an admin URL name, e.g. "admin:progress_statistics"
    permission: str = ""  # "app_label.codename"; empty: every staff member


@dataclass(frozen=True)
class Report:
    """A page of the admin that is not a model's list, shown on the dashboard and in its app's
    section of the index (the viewing statistics)."""

    key: str
    label: str
    link: str
    app_label: str
    permission: str = ""


_tiles: dict[str, Tile] = {}
_reports: dict[str, Report] = {}
_discovered = False
_lock = threading.Lock()


def register(
    key: str,
    *,
    label: str,
    read: Callable[[], Reading],
    order: int = 100,
    link: str = "",
    permission: str = "",
) -> None:
    """Add (or replace, by ``key``) a tile."""
    _tiles[key] = Tile(key, label, read, order, link, permission)


def register_report(
    key: str, *, label: str, link: str, app_label: str, permission: str = ""
) -> None:
    _reports[key] = Report(key, label, link, app_label, permission)


def discover() -> None:
    """Import every installed app's ``dashboard`` module, once."""
    global _discovered
    with _lock:
        if not _discovered:
            autodiscover_modules("dashboard")
            _discovered = True


def _allowed(user: Any, permission: str) -> bool:
    return not permission or user.has_perm(permission)


def _url(name: str) -> str:
    try:
        return reverse(name) if name else ""
    except NoReverseMatch:
        return ""


def readings(user: Any) -> list[dict[str, str]]:
    """Every tile ``user`` may see, read now, in order."""
    discover()
    shown = sorted(
        (tile for tile in _tiles.values() if _allowed(user, tile.permission)),
        key=lambda tile: (tile.order, tile.label),
    )
    return [_read(tile) for tile in shown]


def _read(tile: Tile) -> dict[str, str]:
    try:
        reading = tile.read()
    except Exception as exc:  # one broken figure must not take the dashboard down
        log.warning("dashboard tile %s failed: %s", tile.key, exc, exc_info=True)
        reading = Reading("—", f"Unavailable ({type(exc).__name__})", "alert")
    return {
        "key": tile.key,
        "label": tile.label,
        "value": reading.value,
        "detail": reading.detail,
        "state": reading.state,
        "url": _url(tile.link),
    }


def reports(user: Any, app_label: str | None = None) -> list[dict[str, str]]:
    discover()
    return [
        {"key": report.key, "label": report.label, "url": url, "app_label": report.app_label}
        for report in sorted(_reports.values(), key=lambda r: r.label)
        if (app_label is None or report.app_label == app_label)
        and _allowed(user, report.permission)
        and (url := _url(report.link))
    ]


# --- The tile streamsite itself knows: the cache --------------------------------------------


def cache_hit_ratio() -> Reading:
    """Hits among reads: Redis's own count across every process when the cache is Redis (all
    keys: catalog entries, sessions, users), else this process's reads through
    streamsite.cache since it started."""
    info = cache.server_stats()
    if info is not None:
        hits, misses = info.get("keyspace_hits", 0), info.get("keyspace_misses", 0)
        where = "Redis, since it started"
    else:
        counts = {"hit": 0.0, "miss": 0.0, "stale": 0.0}
        for family in metrics.CACHE_REQUESTS.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["result"]] += sample.value
        hits, misses = counts["hit"], counts["miss"] + counts["stale"]
        where = "this process, since it started"
    total = hits + misses
    if not total:
        return Reading("—", f"No reads yet ({where})", "idle")
    ratio = hits / total
    state: State = "ok" if ratio >= 0.8 else "warning"
    return Reading(f"{ratio:.0%}", f"{int(hits):,} hits of {int(total):,} reads ({where})", state)


register("cache-hit-ratio", label="Cache hit ratio", read=cache_hit_ratio, order=30)
