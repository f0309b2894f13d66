"""Session authentication: the user row, with the profile, read from the cache when it can be.

Every signed-in request loads its user (Django checks the session against the password hash
and ``is_active``). Player heartbeats alone bring one request per viewer every 10 s, so the user
and profile are cached in Redis for ``CACHE_SECONDS``.

Any save or delete of either (``accounts/apps.py``), and every bulk write in
``accounts.services``, replaces the cached copy with a "changed" marker, now and again once the
transaction commits. While the marker lives, requests read the database and cache nothing; a
copy read from the database is otherwise only cached where no entry exists. So a copy read just
before a change committed can never be cached after it: a password change or a deactivation
takes effect at once, in every process.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import backends, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from streamsite import cache

CACHE_SECONDS = 300
# Outlives any request that could have read the row before the change committed.
_CHANGED = "changed"
_CHANGED_SECONDS = 10


def user_cache_key(user_id: Any) -> str:
    return f"accounts:user:{user_id}"


def forget_cached_user(user_id: Any) -> None:
    mark_changed(user_cache_key(user_id))


def mark_changed(key: str) -> None:
    """Replace the cached copy under ``key`` by the "changed" marker, now and on commit."""
    cache.set(key, _CHANGED, _CHANGED_SECONDS)
    transaction.on_commit(lambda: cache.set(key, _CHANGED, _CHANGED_SECONDS))


class ModelBackend(backends.ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        key = user_cache_key(user_id)
        cached = cache.get(key)
        if isinstance(cached, AbstractBaseUser):
            user = cached
        else:
            # The rate limiter reads the tier (on the profile) on every API request; joining
            # it here keeps that free instead of one more query per request.
            users = get_user_model()._default_manager.select_related("profile")
            try:
                user = users.get(pk=user_id)
            except get_user_model().DoesNotExist:
                return None
            if cached is None:
                cache.add(key, user, CACHE_SECONDS)
        return user if self.user_can_authenticate(user) else None
