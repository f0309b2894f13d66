"""The purge queue and the purge log.

``QueuedPurge`` is one thing the edge must forget (a URL, a cache tag, or everything), waiting
until it is due and the provider's budget allows. It lives in the database so nothing is lost
while the provider is down or a worker dies, and it is unique per thing, so a change queued
again while it waits costs no second purge (coalescing).

``CdnPurge`` is one request sent to the provider: what it named, why, who asked, what the
provider answered and how much was still waiting.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Kind(models.TextChoices):
    URL = "url", "URL"
    TAG = "tag", "Cache tag"
    EVERYTHING = "everything", "Everything"


class QueuedPurgeQuerySet(models.QuerySet["QueuedPurge"]):
    def due(self, now: object) -> QueuedPurgeQuerySet:
        return self.filter(due_at__lte=now)


class QueuedPurge(models.Model):
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=2048)
    # Not before: CDN_PURGE_DELAY after the change, or after a backoff once the provider failed.
    due_at = models.DateTimeField()
    # New each time the thing is queued again: a purge sent before that must not remove it.
    token = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    reason = models.CharField(max_length=255, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When it was last queued.
    queued_at = models.DateTimeField(default=timezone.now)

    objects = QueuedPurgeQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="cdn_queued_purge_unique")
        ]
        indexes = [models.Index(fields=["due_at", "id"], name="cdn_queued_purge_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class CdnPurge(models.Model):
    class Status(models.TextChoices):
        DONE = "done", "Done"
        RETRYING = "retrying", "Refused, will retry"
        FAILED = "failed", "Failed, will retry"

    sent_at = models.DateTimeField(auto_now_add=True, db_index=True)
    provider = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    items = models.JSONField(default=list, help_text="The URLs or tags named")
    count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices)
    reason = models.TextField(blank=True, help_text="The changes, or the editor's action")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    answer = models.TextField(blank=True, help_text="What the provider answered")
    retry_after = models.FloatField(null=True, blank=True, help_text="Seconds, if it said")
    queue_length = models.PositiveIntegerField(default=0, help_text="Still waiting afterwards")

    class Meta:
        ordering = ["-sent_at", "-id"]
        verbose_name = "CDN purge"
        verbose_name_plural = "CDN purges"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ×{self.count} ({self.get_status_display()})"
