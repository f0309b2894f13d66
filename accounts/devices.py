"""Signed-in devices: what each session records about the browser that signed in, the session
stores that write it into their table (``accounts.models.DeviceSession``), and the writes that
sign devices out.

The browser and address are put into the session's data when someone signs in through our
pages (:func:`remember_device`); the store copies them, with the user id Django keeps there,
into the row's columns whenever the session is saved. A session signed in elsewhere (the
admin's own sign-in page) is listed too, as an unknown browser.
"""

from __future__ import annotations

import hashlib
import re
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import DeviceSession
from shield.client_ip import client_ip

DEVICE_KEY = "_streamsite_device"


def remember_device(request: HttpRequest) -> None:
    """Note, in the new session, the browser and address it signed in from."""
    request.session[DEVICE_KEY] = {
        "agent": request.META.get("HTTP_USER_AGENT", "")[:255],
        "ip": client_ip(request),
        "since": timezone.now().isoformat(),
    }


class DeviceSessionMixin:
    """For a database-backed session store: our table, and its columns filled from the data."""

    @classmethod
    def get_model_class(cls) -> type[DeviceSession]:
        return DeviceSession

    def create_model_instance(self, data: dict[str, Any]) -> DeviceSession:
        row = super().create_model_instance(data)  # type: ignore[misc]
        device = data.get(DEVICE_KEY) or {}
        row.user_id = _user_id(data.get(SESSION_KEY))
        row.user_agent = str(device.get("agent", ""))[:255]
        row.ip = device.get("ip") or None
        row.signed_in_at = parse_datetime(device["since"]) if device.get("since") else None
        return row


def _user_id(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None  # not signed in, or a user model whose key is not a number


# --- Reading and signing out ------------------------------------------------------------------


def device_id(session_key: str) -> str:
    """A handle for a session on the account page: the session key itself is a credential
    and never leaves its own browser."""
    return hashlib.blake2b(session_key.encode(), digest_size=8).hexdigest()


def devices(*, user_id: int) -> list[DeviceSession]:
    """The user's unexpired sessions, most recently signed in first."""
    return list(
        DeviceSession.objects.filter(user_id=user_id, expire_date__gt=timezone.now()).order_by(
            "-signed_in_at", "-expire_date"
        )
    )


def _store(session_key: str | None = None) -> SessionBase:
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


def sign_out_device(*, user_id: int, device: str) -> bool:
    """End one of the user's sessions by its :func:`device_id`; False when none matches."""
    keys = DeviceSession.objects.filter(user_id=user_id).values_list("session_key", flat=True)
    for key in keys:
        if device_id(key) == device:
            _delete(key)
            return True
    return False


def sign_out_everywhere(*, user_id: int, keep: str | None = None) -> int:
    """End every session of the user (but ``keep``, a session key); returns how many."""
    keys = [
        key
        for key in DeviceSession.objects.filter(user_id=user_id).values_list(
            "session_key", flat=True
        )
        if key != keep
    ]
    for key in keys:
        _delete(key)
    return len(keys)


def _delete(session_key: str) -> None:
    # Through the engine, so a cached copy (accounts.sessions) goes with the row.
    with transaction.atomic():
        _store(session_key).delete(session_key)


# --- Describing a browser -------------------------------------------------------------------

_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS|HeadlessChrome)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*Safari/")),
)
_SYSTEMS = (
    ("iPhone", re.compile(r"\biPhone\b")),
    ("iPad", re.compile(r"\biPad\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def describe(user_agent: str) -> str:
    """``Chrome on Linux``, ``Safari on iPhone``, or ``Unknown browser``."""
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), "")
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "Unknown browser")
