"""Writes and lookups for tiers and API keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.backends import forget_cached_user, mark_changed
from accounts.models import ApiKey, Profile, Tier, hash_key
from streamsite import cache
from streamsite.localcache import LocalCache

# last_used_at is written at most this often per key: an API client making 20 requests a
# second must not turn every read into a database write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# Keys whose last use this process has recorded within LAST_USED_RESOLUTION.
_touched = LocalCache(maxsize=10_000)


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
    forget_api_keys(key_ids=key_ids)
    return changed


def active_api_key(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key`` with its user and profile, else None.

    The only place that decides whether a key is valid (``accounts.identity`` asks it once per
    request for the shield and DRF alike). A valid key is cached with its user and profile for
    ``API_KEY_CACHE_SECONDS``; revoking it, saving it, or any change to its user or profile
    replaces the cached copy with a "changed" marker (:func:`forget_api_keys`), so the next
    request, in any process, reads the database again. Unknown keys are never cached: a flood
    of made-up keys must not fill the cache.
    """
    digest = hash_key(raw_key)
    cache_key = _api_key_cache_key(digest)
    cached = cache.get(cache_key)
    if isinstance(cached, ApiKey):
        api_key: ApiKey | None = cached
    else:
        api_key = (
            ApiKey.objects.active().with_digest(digest).select_related("user__profile").first()
        )
        if api_key is not None and cached is None:
            cache.add(cache_key, api_key, settings.API_KEY_CACHE_SECONDS)
    if api_key is not None:
        _touch_last_used(api_key)
    return api_key


def forget_api_keys(*, key_ids: Iterable[int] = (), user_ids: Iterable[int] = ()) -> None:
    """Drop the cached copies of these keys and of every key of these users."""
    digests = ApiKey.objects.filter(Q(pk__in=list(key_ids)) | Q(user_id__in=list(user_ids)))
    for digest in digests.values_list("hashed_key", flat=True):
        mark_changed(_api_key_cache_key(digest))


def forget_api_key(api_key: ApiKey) -> None:
    mark_changed(_api_key_cache_key(api_key.hashed_key))


def _api_key_cache_key(digest: str) -> str:
    return f"accounts:api-key:{digest}"


def _touch_last_used(api_key: ApiKey) -> None:
    # Each process writes at most once a minute per key; the filter makes concurrent processes
    # agree, so only one of them writes within a minute.
    if _touched.get(api_key.pk):
        return
    _touched.set(api_key.pk, True, LAST_USED_RESOLUTION.total_seconds())
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk).stale_use(now, LAST_USED_RESOLUTION).update(
        last_used_at=now
    )


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
        # Bulk writes send no signals: drop the cached users (with their profiles) here, and
        # their API keys, cached with them.
        for user_id in user_ids:
            forget_cached_user(user_id)
        forget_api_keys(user_ids=user_ids)


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
