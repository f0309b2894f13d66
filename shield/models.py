"""The audit trail of automatic blocks. Enforcement itself lives in Redis (see shield.services)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone


class Reason(models.TextChoices):
    REQUEST_RATE = "request_rate", "Request rate"
    ERROR_RATE = "error_rate", "4xx rate"
    MISSING_PATHS = "missing_paths", "Scanning for missing paths"
    FAILED_LOGINS = "failed_logins", "Failed logins"


class BlockQuerySet(models.QuerySet["Block"]):
    def active(self) -> BlockQuerySet:
        return self.filter(lifted_at__isnull=True, expires_at__gt=timezone.now())


class Block(models.Model):
    ip = models.GenericIPAddressField("IP address", db_index=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    offence = models.PositiveIntegerField(
        help_text="1 for a first block, 2 for a repeat within the offence memory, and so on."
    )
    duration_seconds = models.PositiveIntegerField()
    evidence = models.JSONField(
        default=dict, help_text="The counter that crossed its threshold, and the threshold."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = BlockQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.ip} blocked for {self.get_reason_display().lower()}"

    def is_active(self, now: dt.datetime | None = None) -> bool:
        return self.lifted_at is None and self.expires_at > (now or timezone.now())
