"""Where each viewer stopped in each movie, and the viewing sessions behind it.

``WatchProgress`` rows are written in bulk by the buffer flush (``progress.services``), never one
heartbeat at a time, except when no Redis buffer is available.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from progress import rules


class WatchProgressQuerySet(models.QuerySet["WatchProgress"]):
    def for_user(self, user_id: int) -> WatchProgressQuerySet:
        return self.filter(user_id=user_id)

    def recent_first(self) -> WatchProgressQuerySet:
        return self.order_by("-updated_at", "-id")

    def updated_since(self, since: dt.datetime) -> WatchProgressQuerySet:
        return self.filter(updated_at__gte=since)


class WatchProgress(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watch_progress"
    )
    movie = models.ForeignKey(
        "catalog.Movie", on_delete=models.CASCADE, related_name="watch_progress"
    )
    position = models.FloatField(help_text="Seconds from the start.")
    duration = models.FloatField(help_text="Seconds, as the player reported it.")
    completed = models.BooleanField(default=False)
    # The player's clock when it read the position. Heartbeats can arrive out of order (retries,
    # an offline queue replayed later, two tabs), so the newest client timestamp wins, never the
    # last one to arrive.
    client_ts = models.DateTimeField("client timestamp")
    # When the server received that heartbeat (not when the flush wrote it): "most recent first".
    updated_at = models.DateTimeField(default=timezone.now)

    objects = WatchProgressQuerySet.as_manager()

    class Meta:
        verbose_name = "watch progress"
        verbose_name_plural = "watch progress"
        constraints = [
            # Also the conflict target of the flush's INSERT … ON CONFLICT (user_id, movie_id).
            models.UniqueConstraint(fields=["user", "movie"], name="progress_one_per_user_movie"),
        ]
        indexes = [
            # "My recent items": the continue-watching row and GET /api/progress.
            models.Index(fields=["user", "-updated_at"], name="progress_user_recent"),
            # Statistics over the last 7/30 days.
            models.Index(fields=["updated_at"], name="progress_updated"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} at {self.position:.0f}s of movie {self.movie_id}"

    def is_completed(self) -> bool:
        return self.completed

    def percent(self) -> float:
        return rules.percent(position=self.position, duration=self.duration)

    def resume_position(self) -> float:
        return rules.resume_position(position=self.position, completed=self.completed)

    def has_resume_point(self) -> bool:
        return self.resume_position() > 0


class ViewingSessionQuerySet(models.QuerySet["ViewingSession"]):
    def started_since(self, since: dt.datetime) -> ViewingSessionQuerySet:
        return self.filter(started_at__gte=since)


class ViewingSession(models.Model):
    """One press of play: counted as a view in the statistics, kept alive by heartbeats."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="viewing_sessions"
    )
    movie = models.ForeignKey(
        "catalog.Movie", on_delete=models.CASCADE, related_name="viewing_sessions"
    )
    device = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resumed_from = models.FloatField(
        default=0.0, help_text="Seconds the session started at; above 0 means a resume."
    )

    objects = ViewingSessionQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["started_at"], name="progress_session_started")]

    def __str__(self) -> str:
        return f"session {self.id} of user {self.user_id} on movie {self.movie_id}"

    def is_resume(self) -> bool:
        return self.resumed_from > 0


class PlaybackQualityQuerySet(models.QuerySet["PlaybackQuality"]):
    def reported_since(self, since: dt.datetime) -> PlaybackQualityQuerySet:
        return self.filter(first_reported_at__gte=since)


class PlaybackQuality(models.Model):
    """What a session's player measured while one source played: its QoE reports, added up.

    Reports carry what changed since the last one (``progress.qoe``), so each adds its counts
    here; the time played at each rung is in ``PlaybackRungTime`` rows, so the statistics can
    sum it per rung in the database.
    """

    session = models.ForeignKey(ViewingSession, on_delete=models.CASCADE, related_name="quality")
    source = models.CharField(max_length=32, help_text="The provider's slug, or self-hosted.")
    startup_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="From choosing the source to its first frame."
    )
    stalls = models.PositiveIntegerField(default=0)
    stalled_ms = models.PositiveBigIntegerField(default=0)
    played_ms = models.PositiveBigIntegerField(default=0, help_text="At every rung together.")
    switches_up = models.PositiveIntegerField(default=0)
    switches_down = models.PositiveIntegerField(default=0)
    bandwidth_kbps = models.PositiveIntegerField(
        null=True, blank=True, help_text="The player's latest estimate of the bandwidth."
    )
    errors = models.PositiveIntegerField(default=0)
    fatal_errors = models.PositiveIntegerField(default=0)
    error_codes = models.JSONField(default=dict, blank=True, help_text="Code → count.")
    reports = models.PositiveIntegerField(default=0)
    first_reported_at = models.DateTimeField(default=timezone.now)
    last_reported_at = models.DateTimeField(default=timezone.now)
    # The player's clock at its newest report: the bandwidth estimate kept is the newest one.
    client_ts = models.DateTimeField("client timestamp", null=True, blank=True)

    objects = PlaybackQualityQuerySet.as_manager()

    class Meta:
        verbose_name = "playback quality"
        verbose_name_plural = "playback quality"
        constraints = [
            models.UniqueConstraint(fields=["session", "source"], name="quality_one_per_source"),
        ]
        indexes = [models.Index(fields=["first_reported_at"], name="quality_first_reported")]

    def __str__(self) -> str:
        return f"{self.source} in session {self.session_id}"

    def stall_ratio(self) -> float | None:
        """The share of the time watched spent waiting for data: stalled / (played + stalled)."""
        total = self.played_ms + self.stalled_ms
        return self.stalled_ms / total if total else None


class PlaybackRungTime(models.Model):
    """Milliseconds a session's player played one source at one rung of its ladder."""

    quality = models.ForeignKey(PlaybackQuality, on_delete=models.CASCADE, related_name="rungs")
    height = models.PositiveSmallIntegerField(help_text="The rung's height in pixels; 0: unknown.")
    played_ms = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["quality", "height"], name="rung_time_one_per_height"),
        ]

    def __str__(self) -> str:
        return f"{self.height}p: {self.played_ms} ms"
