"""Writes and lookups for tiers and API keys."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.backends import forget_cached_user
from accounts.models import ApiKey, Profile, Tier, hash_key

# last_used_at is written at most this often per key: an API client making 20 requests a
# second must not turn every read into a database write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# Bounds the in-process caches below; a flood of random keys must not grow memory forever.
_CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    raw_key: str


def create_api_key(*, user: AbstractBaseUser, name: str) -> IssuedKey:
    """Create a key for ``user``; the raw key in the result is the only copy that will exist."""
    api_key = ApiKey(user=user, name=name)
    raw_key = api_key.set_new_key()
    with transaction.atomic():
        api_key.save()
    return IssuedKey(api_key=api_key, raw_key=raw_key)


def revoke_api_keys(*, key_ids: list[int]) -> int:
    """Revoke keys (already revoked ones keep their original time); returns how many changed."""
    with transaction.atomic():
        changed = ApiKey.objects.filter(pk__in=key_ids, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    forget_cached_api_keys()
    return changed


def resolve_api_key(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key`` with its user and profile, else None.

    One indexed query (plus, at most once a minute per key, the last-used update). This is the
    only place that decides whether a key is valid; DRF and the rate limiter both go through it.
    """
    api_key = (
        ApiKey.objects.active()
        .with_digest(hash_key(raw_key))
        .select_related("user__profile")
        .first()
    )
    if api_key is not None:
        _touch_last_used(api_key)
    return api_key


def request_api_key(request: HttpRequest, raw_key: str) -> ApiKey | None:
    """:func:`resolve_api_key` once per request, whoever asks first.

    The rate limiter asks while Redis decides on the request, so the database and Redis are
    waited for together; DRF's authentication, asking next, gets the same answer for free.
    """
    found = getattr(request, "_resolved_api_key", None)
    if found is not None and found[0] == raw_key:
        return found[1]
    api_key = resolve_api_key(raw_key)
    request._resolved_api_key = (raw_key, api_key)  # type: ignore[attr-defined]
    return api_key


def _touch_last_used(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    # The filter makes concurrent processes agree: only one of them writes within a minute.
    ApiKey.objects.filter(pk=api_key.pk).stale_use(now, LAST_USED_RESOLUTION).update(
        last_used_at=now
    )
    api_key.last_used_at = now


# --- Cached lookup for the rate limiter -------------------------------------------------------

_key_cache: dict[str, tuple[float, int | None]] = {}
_key_cache_lock = threading.Lock()


def cached_api_key_id(raw_key: str) -> int | None:
    """The id of the active key ``raw_key``, remembered in this process for a while.

    The rate limiter only needs to know which bucket a request belongs to; authentication
    itself (DRF, through :func:`resolve_api_key`) always asks the database, so a revoked key is
    refused at once and is merely counted in the api tier for at most
    ``API_KEY_CACHE_SECONDS`` more. The same queryset methods decide what is active, but only
    the id is read: no join, and the last-used time is DRF's to record.
    """
    digest = hash_key(raw_key)
    now = time.monotonic()
    cached = _key_cache.get(digest)
    if cached is not None and cached[0] > now:
        return cached[1]
    key_id = ApiKey.objects.active().with_digest(digest).values_list("pk", flat=True).first()
    with _key_cache_lock:
        if len(_key_cache) >= _CACHE_MAX_ENTRIES:
            _key_cache.clear()
        _key_cache[digest] = (now + settings.API_KEY_CACHE_SECONDS, key_id)
    return key_id


def forget_cached_api_keys() -> None:
    with _key_cache_lock:
        _key_cache.clear()


# --- Tiers ----------------------------------------------------------------------------------


def set_premium(*, user_ids: list[int], premium: bool) -> None:
    """Flag users premium (or back to free), creating their profiles on demand."""
    with transaction.atomic():
        existing = set(
            Profile.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True)
        )
        Profile.objects.filter(user_id__in=existing).update(
            is_premium=premium, updated_at=timezone.now()
        )
        Profile.objects.bulk_create(
            [Profile(user_id=uid, is_premium=premium) for uid in user_ids if uid not in existing]
        )
        # Bulk writes send no signals: drop the cached users (with their profiles) here.
        for user_id in user_ids:
            forget_cached_user(user_id)


def user_tier(user: AbstractBaseUser | AnonymousUser) -> Tier:
    """free or premium for a signed-in user, anonymous otherwise.

    The auth backend loads the profile together with the user (``select_related``), so this
    costs no query on requests authenticated by session or API key.
    """
    if not user.is_authenticated:
        return Tier.ANONYMOUS
    try:
        profile = user.profile  # type: ignore[union-attr]
    except Profile.DoesNotExist:
        return Tier.FREE
    return Tier.PREMIUM if profile.is_premium else Tier.FREE
