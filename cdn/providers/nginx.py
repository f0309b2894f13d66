"""Our own edge: nginx's ``proxy_cache`` with Debian's cache-purge module (deploy/nginx/edge).

That module forgets one exact cache key per request: no tags, no wildcards. So this adapter
keeps the tags itself. Each cacheable answer the edge fetched says which tags it carries
(``Cache-Tag``) and under which request URI the edge stored it (the edge sends
``X-Edge-Request-URI``); :func:`record` keeps, per tag, a sorted set of those URIs scored by
when the edge's copy expires, in Redis, so every process and worker shares one map and copies
the edge has dropped fall out of it.

The edge's key is ``<method>|<host>|<request URI>``, with ``Vary`` ignored (it asks the origin
for uncompressed answers and passes requests with a session around the cache, so one copy per
key is all there is): purging a URI means one request per method that can be cached (GET and
HEAD). A purge is ``DELETE <CDN_NGINX_PURGE_URL>/_edge/purge/<METHOD><URI>`` with the edge's
public host as ``Host``; 200 (purged) and 404 (not cached) both mean the copy is gone.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Iterable

import requests
from django.conf import settings

from cdn import images, links
from cdn.models import Kind
from cdn.providers.base import Answer, Budget
from streamsite import clock, resilience
from streamsite import redis as project_redis

log = logging.getLogger(__name__)

SERVICE = "cdn-edge"
BREAKER = "cdn:nginx"
METHODS = ("GET", "HEAD")  # the methods the edge caches, each its own key
PURGE_PATH = "/_edge/purge/"
REQUEST_URI_HEADER = "HTTP_X_EDGE_REQUEST_URI"
_KEY = "cdn:edge:tag:{}"
_ALL = "cdn:edge:all"


def record(uri: str, tags: Iterable[str], lifetime: float) -> None:
    """Remember that the edge keeps ``uri`` for ``lifetime`` seconds under each of ``tags``."""
    if not uri.startswith("/") or lifetime <= 0:
        return
    expires = clock.time() + lifetime
    keep_ms = int(lifetime * 1000) + 60_000
    pipe = project_redis.client().pipeline(transaction=False)
    for key in [*(_KEY.format(tag) for tag in tags), _ALL]:
        pipe.zadd(key, {uri: expires})
        # Drop what the edge no longer holds, then let an unused tag expire altogether.
        pipe.zremrangebyscore(key, "-inf", clock.time())
        pipe.pexpire(key, keep_ms, gt=True)
        pipe.pexpire(key, keep_ms, nx=True)
    pipe.execute()


def uris_for(tags: Iterable[str]) -> list[str]:
    """The URIs the edge may still hold under any of ``tags``."""
    return list(_members([_KEY.format(tag) for tag in tags]))


def all_uris() -> list[str]:
    return list(_members([_ALL]))


def _members(keys: list[str]) -> dict[str, float]:
    """Each URI still held under any of ``keys``, with its latest expiry."""
    pipe = project_redis.client().pipeline(transaction=False)
    for key in keys:
        pipe.zrangebyscore(key, clock.time(), "+inf", withscores=True)
    found: dict[str, float] = {}
    for members in pipe.execute():
        for member, score in members:
            uri = _text(member)
            found[uri] = max(score, found.get(uri, 0.0))
    return found


# Drop purged URIs from the map, but not one the edge stored again meanwhile (a viewer asked
# for it during the purge): its expiry is later than the one read before purging.
_FORGET = """
for _, key in ipairs(KEYS) do
  for i = 1, #ARGV, 2 do
    local score = redis.call('ZSCORE', key, ARGV[i])
    if score and tonumber(score) <= tonumber(ARGV[i + 1]) then
      redis.call('ZREM', key, ARGV[i])
    end
  end
end
"""


def _forget(keys: list[str], purged: dict[str, float]) -> None:
    if purged:
        args = [value for uri, score in purged.items() for value in (uri, repr(score))]
        project_redis.script(_FORGET)(keys=keys, args=args)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class NginxEdge:
    name = "nginx"

    def __init__(self) -> None:
        self.batch_size = settings.CDN_PURGE_BATCH_SIZE

    def budget(self) -> Budget | None:
        return None  # our own edge: as fast as it answers

    def image_urls(self, url: str) -> list[str]:
        return images.sizes_of(url)

    def purge(self, kind: str, values: list[str]) -> Answer:
        if kind == Kind.URL:
            keys, held = [], {}
            uris = list(dict.fromkeys(_uri(url) for url in values))
        else:
            keys = [_ALL] if kind == Kind.EVERYTHING else [_KEY.format(tag) for tag in values]
            held = _members(keys)
            uris = list(held)
        purged = 0
        for uri in uris:
            for method in METHODS:
                answer = self._purge_one(method, uri)
                if answer is not None:
                    return answer
                purged += 1
        _forget([*keys, _ALL], held)
        return Answer(True, f"{len(uris)} URIs purged ({purged} cache keys)", 200)

    def _purge_one(self, method: str, uri: str) -> Answer | None:
        """None when the key is gone; the failure otherwise."""
        host = urllib.parse.urlsplit(settings.CDN_BASE_URL).netloc
        url = f"{settings.CDN_NGINX_PURGE_URL}{PURGE_PATH}{method}{uri}"
        try:
            response = resilience.request(
                "DELETE",
                url,
                service=SERVICE,
                breaker=resilience.get_breaker(BREAKER),
                headers={"Host": host},
            )
        except resilience.CircuitOpenError as exc:
            return Answer(False, str(exc), retry_after=exc.retry_after, sent=False)
        except requests.RequestException as exc:
            return Answer(False, f"{type(exc).__name__}: the edge could not be reached")
        if response.status_code in (200, 404):
            return None
        return Answer(
            False,
            f"{method} {uri}: HTTP {response.status_code} {response.text[:200]!r}",
            response.status_code,
            resilience.retry_after_seconds(response),
        )


def _uri(url: str) -> str:
    """The request URI the edge keyed ``url`` by: its path and query."""
    path = links.path_of(url)
    if path.startswith("/"):
        return path
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
