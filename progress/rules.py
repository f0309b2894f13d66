"""When a position counts as a resume point, when a movie counts as watched, what a heartbeat
may claim. The thresholds are settings (``PROGRESS_*``) so an operator can tune them.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

# A heartbeat may arrive late, even days late (an offline queue replayed): last write wins by
# client timestamp decides whether it still counts. A client clock may also run fast; a
# timestamp further ahead than this is taken as this far ahead, so a device whose clock is a
# day fast cannot win over every other device's heartbeats for a day.
MAX_CLIENT_TS_AHEAD = dt.timedelta(minutes=5)
# Client timestamps are milliseconds since 1970 up to the end of year 9999 (what a datetime
# holds); anything else is no clock's reading.
MAX_CLIENT_TS_MS = 253_402_300_799_999
# Longest duration we accept: no film is longer than a day. A position past the duration (the
# player's metadata and decoder disagree at the very end) is taken as the end.
MAX_DURATION_SECONDS = 24 * 3600.0
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def client_time(ms: int, *, now: dt.datetime) -> dt.datetime:
    """A player's timestamp (milliseconds since the epoch) as a moment: however old, since last
    write wins decides whether it still counts, and one far ahead counts as
    MAX_CLIENT_TS_AHEAD ahead."""
    return min(EPOCH + dt.timedelta(milliseconds=ms), now + MAX_CLIENT_TS_AHEAD)


def is_completed(*, position: float, duration: float, ended: bool = False) -> bool:
    """Watched to the end: the player said so, or ≥ PROGRESS_COMPLETE_PERCENT was watched, or
    only the last PROGRESS_COMPLETE_REMAINING_SECONDS (the credits) are left.

    The credits rule only applies past the middle of the video: for a five-minute clip "the
    last two minutes" would otherwise start almost at the beginning.
    """
    if ended:
        return True
    if duration <= 0:
        return False
    if position * 100.0 >= duration * settings.PROGRESS_COMPLETE_PERCENT:
        return True
    remaining = duration - position
    return remaining <= settings.PROGRESS_COMPLETE_REMAINING_SECONDS and position >= duration / 2


def resume_position(*, position: float, completed: bool) -> float:
    """Where playback should start: 0 for a finished movie (watch it again from the start) or
    for a position too early to be worth remembering, else the saved position."""
    if completed or position < settings.PROGRESS_MIN_RESUME_SECONDS:
        return 0.0
    return position


def percent(*, position: float, duration: float) -> float:
    if duration <= 0:
        return 0.0
    return round(min(100.0, max(0.0, position * 100.0 / duration)), 1)
