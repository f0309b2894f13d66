"""Viewer tiers and API keys.

Tiers decide rate limits: ``anonymous`` (no credentials), ``free`` (signed in), ``premium``
(flagged by an editor on the user's profile) and ``api`` (a request carrying a valid API key).
The user model stays Django's own: a custom user model cannot be introduced sanely once the
auth migrations exist, so per-user facts live on a one-to-one ``Profile`` created on demand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models import Q

# 8 hex characters are stored in clear so people can tell their keys apart in lists and logs;
# they carry no secret (the secret part is 256 random bits after the dot).
KEY_PREFIX_LENGTH = 8


class Tier(models.TextChoices):
    ANONYMOUS = "anonymous", "Anonymous"
    FREE = "free", "Free"
    PREMIUM = "premium", "Premium"
    API = "api", "API"


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    is_premium = models.BooleanField(
        "premium",
        default=False,
        help_text="Premium viewers get the higher premium rate limit.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "profile"

    def __str__(self) -> str:
        return f"Profile of user {self.user_id}"


def hash_key(raw_key: str) -> str:
    """SHA-256 of the raw key.

    A fast hash is right here, unlike for passwords: the key is 256 bits from ``secrets``, so
    guessing it from a leaked digest is infeasible however fast the hash is, while a slow hash
    (PBKDF2, Argon2) would add tens of milliseconds to every API request and rule out looking
    the key up by an indexed digest.
    """
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True)

    def with_digest(self, digest: str) -> ApiKeyQuerySet:
        return self.filter(hashed_key=digest)

    def stale_use(self, now: dt.datetime, interval: dt.timedelta) -> ApiKeyQuerySet:
        """Keys whose recorded last use is older than ``interval`` (or missing)."""
        return self.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - interval))


class ApiKey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, help_text="What the key is for, e.g. 'mobile app'.")
    prefix = models.CharField(max_length=KEY_PREFIX_LENGTH, editable=False)
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def set_new_key(self) -> str:
        """Give this (unsaved) key fresh material; returns the raw key, which is never stored."""
        self.prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
        raw_key = f"{self.prefix}.{secrets.token_urlsafe(32)}"
        self.hashed_key = hash_key(raw_key)
        return raw_key

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class DeviceSession(AbstractBaseSession):
    """A signed-in browser: Django's session row, plus whose it is and where it signed in.

    Django's own session table knows no user (the user id sits inside the encoded data), so a
    viewer could not list their devices nor sign one out. This model is the session engine's
    table (``accounts.sessions``, ``accounts.db_sessions``), filled in from the session's data
    each time it is saved: "sign out everywhere" is then one indexed query.
    """

    # The signed-in user's id; not a foreign key, so a session still carrying the id of a
    # deleted user can be saved (and is simply no longer signed in).
    user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    user_agent = models.CharField(max_length=255, blank=True)
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    signed_in_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractBaseSession.Meta):
        verbose_name = "signed-in device"

    @classmethod
    def get_session_store_class(cls) -> type[SessionBase]:
        from importlib import import_module

        return import_module(settings.SESSION_ENGINE).SessionStore
