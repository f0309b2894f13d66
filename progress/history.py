"""Forgetting a viewer's viewing history ("Delete my viewing history" on the account page).

Everything the viewer watched goes: positions (in Redis and in the database), viewing sessions
and the playback quality measured in them. accounts, below this app, cannot call it; progress
registers it there (``progress/apps.py``) and the account page calls what is registered.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from progress import buffer
from progress.models import ViewingSession, WatchProgress


def forget_viewing_history(*, user_id: int) -> int:
    """Delete the viewer's history; returns how many films they had progress in.

    A flush that had already taken some of the viewer's buffered entries may write them after
    this deletes the rows, so when that is the case the rows the flush could have written are
    deleted again once its lease is over (``progress.tasks.forget_flushed_history``).
    """
    cutoff = timezone.now()
    taken = buffer.forget_user(user_id=user_id)
    with transaction.atomic():
        films, _ = WatchProgress.objects.filter(user_id=user_id).delete()
        ViewingSession.objects.filter(user_id=user_id).delete()
        if taken:
            from progress import tasks  # tasks imports this module

            transaction.on_commit(
                lambda: tasks.forget_flushed_history.apply_async(
                    (user_id, cutoff.isoformat()),
                    countdown=settings.PROGRESS_FLUSH_LEASE_SECONDS,
                )
            )
    return films


def forget_flushed_history(*, user_id: int, before: dt.datetime) -> int:
    """Delete the progress rows a flush wrote after the history was forgotten: those whose
    heartbeat the player sent before that moment (later ones are new viewing)."""
    with transaction.atomic():
        deleted, _ = WatchProgress.objects.filter(user_id=user_id, client_ts__lte=before).delete()
    return deleted
