"""Videos an editor uploaded, and the adaptive HLS renditions made from them.

A ``VideoAsset`` is one uploaded source file and everything the pipeline learnt and made from
it. A movie may have several (a better master uploaded later, a failed attempt); the one played
is the newest that is ready, so a new upload replaces the old one only once it plays.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone

from catalog.models import Movie


class SourceStorage(FileSystemStorage):
    """Uploaded sources, under ``VIDEO_SOURCE_ROOT`` as it is when a file is used.

    FileSystemStorage would keep the location it saw at start-up; reading the setting each
    time lets an overridden setting (a test's own directory) take effect.
    """

    @property
    def base_location(self) -> str:
        return str(settings.VIDEO_SOURCE_ROOT)

    @property
    def location(self) -> str:
        return str(Path(self.base_location).resolve())

    @property
    def base_url(self) -> None:  # sources are never served
        return None


def source_upload_to(asset: VideoAsset, filename: str) -> str:
    return f"{timezone.now():%Y/%m}/{Path(filename).name}"


class VideoAssetQuerySet(models.QuerySet["VideoAsset"]):
    def ready(self) -> VideoAssetQuerySet:
        return self.filter(status=VideoAsset.Status.READY)

    def playing_for(self, movie_id: int) -> VideoAsset | None:
        """The asset viewers of the movie get: the newest one that is ready."""
        return self.ready().filter(movie_id=movie_id).order_by("-ready_at", "-id").first()

    def stalled(self, *, now: dt.datetime | None = None) -> VideoAssetQuerySet:
        """Transcodes whose worker stopped reporting, and uploads no worker ever picked up."""
        cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.VIDEO_STALL_SECONDS)
        return self.filter(
            status__in=[VideoAsset.Status.UPLOADED, VideoAsset.Status.TRANSCODING],
            heartbeat_at__lt=cutoff,
        )


class VideoAsset(models.Model):
    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        PROBING = "probing", "Probing"
        TRANSCODING = "transcoding", "Transcoding"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    movie = models.ForeignKey(Movie, on_delete=models.CASCADE, related_name="videos")
    source = models.FileField(storage=SourceStorage(), upload_to=source_upload_to, max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED)
    percent = models.PositiveSmallIntegerField(default=0, help_text="Transcode progress, 0–100")
    error = models.TextField(blank=True, help_text="Why the last attempt failed (ffmpeg's words)")
    # What the probe found in the source.
    duration = models.FloatField(null=True, blank=True, help_text="Seconds")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    video_codec = models.CharField(max_length=32, blank=True)
    audio_codec = models.CharField(max_length=32, blank=True, help_text="Empty: no sound")
    frame_rate = models.FloatField(null=True, blank=True)
    # Relative to the asset's directory ("master.m3u8"); empty until ready.
    master_playlist = models.CharField(max_length=255, blank=True)
    # The seek-preview track (WebVTT pointing at sprite tiles), beside it; empty until ready.
    thumbnails = models.CharField(max_length=255, blank=True)
    # The transcode lock: which attempt holds it, and when it last proved to be alive.
    attempt = models.CharField(max_length=32, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(default=timezone.now, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    objects = VideoAssetQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["movie", "status", "-ready_at"], name="video_playing")]

    def __str__(self) -> str:
        return f"{self.movie} — {Path(self.source.name).name} ({self.get_status_display()})"

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY

    @property
    def directory(self) -> Path:
        """Where this asset's playlists, segments and subtitles live."""
        return Path(settings.HLS_ROOT) / str(self.pk)


class Rendition(models.Model):
    """One rung of an asset's ladder, as measured from the segments written."""

    asset = models.ForeignKey(VideoAsset, on_delete=models.CASCADE, related_name="renditions")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bandwidth = models.PositiveIntegerField(help_text="Peak bits per second over any segment")
    average_bandwidth = models.PositiveIntegerField(help_text="Mean bits per second")
    codecs = models.CharField(max_length=64)
    playlist = models.CharField(max_length=255, help_text="Relative to the asset's directory")

    class Meta:
        ordering = ["-height"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "height"], name="rendition_unique_height")
        ]

    def __str__(self) -> str:
        return f"{self.height}p, {self.bandwidth // 1000} kb/s"


class Subtitle(models.Model):
    """A subtitle track of an asset, kept as UTF-8 WebVTT in the asset's directory."""

    asset = models.ForeignKey(VideoAsset, on_delete=models.CASCADE, related_name="subtitles")
    language = models.CharField(max_length=16, help_text="BCP 47 code, e.g. en, fr, pt-BR")
    label = models.CharField(max_length=64, help_text="What the menu shows, e.g. English")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["label"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "language"], name="subtitle_unique_language")
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.language})"

    @property
    def filename(self) -> str:
        """Relative to the asset's directory, so it is served under the asset's signed prefix."""
        return f"subtitles/{self.language}.vtt"
