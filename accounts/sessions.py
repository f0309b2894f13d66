"""Sessions read from Redis, kept in the database: one cache round trip per signed-in request.

Django's ``cached_db`` engine, with two changes:

- Every cache operation goes through ``streamsite.cache``, which never raises while Redis is
  down (it logs, counts and pauses for a moment instead). A request then reads its session
  from the database, and signing in and out keep working.
- Deleting a session (signing out) leaves an empty session in the cache rather than nothing,
  and a copy read from the database is only cached where no entry exists. So a request that
  read the session just before it was deleted cannot put it back afterwards.

Rows are ``accounts.models.DeviceSession``: the session with whose it is and where it signed
in (``accounts.devices``), so viewers can list and end their sessions.

The database stays the record: a cached copy lives at most ``CACHE_SECONDS`` and is re-read
after that. That also bounds what a Redis outage can cost: a session deleted while Redis was
unreachable keeps its cached copy, usable until it expires.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import cached_db

from accounts.devices import DeviceSessionMixin
from streamsite import cache

CACHE_SECONDS = 3600


class SessionStore(DeviceSessionMixin, cached_db.SessionStore):
    def _cache_seconds(self, expiry: Any = None) -> int:
        return max(0, min(CACHE_SECONDS, self.get_expiry_age(expiry=expiry)))

    def load(self) -> dict[str, Any]:
        data = cache.get(self.cache_key)
        if data is not None:
            return data
        stored = self._get_session_from_db()
        if stored is None:
            return {}
        data = self.decode(stored.session_data)
        cache.add(self.cache_key, data, self._cache_seconds(stored.expire_date))
        return data

    def exists(self, session_key: str | None) -> bool:
        # Asked only when picking a new key: the database alone is the record of what exists.
        return super(cached_db.SessionStore, self).exists(session_key)

    def save(self, must_create: bool = False) -> None:
        super(cached_db.SessionStore, self).save(must_create)
        cache.set(self.cache_key, self._session, self._cache_seconds())

    def delete(self, session_key: str | None = None) -> None:
        super(cached_db.SessionStore, self).delete(session_key)
        session_key = session_key or self.session_key
        if session_key is not None:
            cache.set(self.cache_key_prefix + session_key, {}, CACHE_SECONDS)
