"""The CDN's tile on the admin dashboard (streamsite.dashboard): purges waiting, last answer."""

from __future__ import annotations

from django.conf import settings
from django.utils.timesince import timesince

from cdn.models import CdnPurge, QueuedPurge
from streamsite import dashboard


def purge_queue() -> dashboard.Reading:
    if settings.CDN_PROVIDER == "none":
        return dashboard.Reading("—", "No CDN configured (CDN_PROVIDER)", "idle")
    waiting = QueuedPurge.objects.count()
    last = CdnPurge.objects.only("sent_at", "status", "answer").first()
    if last is None:
        detail = f"{settings.CDN_PROVIDER}: nothing purged yet"
    else:
        detail = f"Last {timesince(last.sent_at)} ago: {last.get_status_display().lower()}"
    refused = last is not None and last.status != CdnPurge.Status.DONE
    state: dashboard.State = "warning" if refused and waiting else "ok"
    return dashboard.Reading(f"{waiting:,}", detail, state)


dashboard.register(
    "cdn-purge-queue", label="CDN purges waiting", read=purge_queue, order=60,
    link="admin:cdn_cdnpurge_changelist", permission="cdn.view_cdnpurge",
)  # fmt: skip
