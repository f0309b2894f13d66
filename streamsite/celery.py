"""The Celery application and the one beat schedule of the project.

Every periodic task is declared here, with the reason for its interval, so an operator can see
the whole background load in one place.
"""

from __future__ import annotations

import os

from celery import Celery
from django.conf import settings

from streamsite import celery_metrics  # noqa: F401  (the worker's and the beat's own metrics)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamsite.settings")

app = Celery("streamsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Every 15 s: a provider failing its probes has its circuit opened after
    # CIRCUIT_FAILURE_THRESHOLD of them (about a minute at the default 5), before most viewers
    # reach it, and a recovered one is back within CIRCUIT_RESET_SECONDS + 15 s. One small GET
    # per enabled provider per round is nothing to them; faster would only add noise.
    "probe-streaming-providers": {
        "task": "streaming.tasks.probe_providers",
        "schedule": 15.0,
        "options": {"expires": 15.0},
    },
    # Every PROGRESS_FLUSH_SECONDS (30 s): a viewer sends three heartbeats in that time, so a
    # flush writes one row where direct writes would be three, while a crash of Redis itself
    # costs at most 30 s of progress and "continue watching" on another device is at most that
    # stale. Expiring after one interval drops flushes queued behind a slow one (the next beat
    # sends a fresh one) instead of letting them pile up.
    "flush-watch-progress": {
        "task": "progress.flush",
        "schedule": settings.PROGRESS_FLUSH_SECONDS,
        "options": {"expires": settings.PROGRESS_FLUSH_SECONDS},
    },
    # Every half the catalog TTL (300 s at the default 600 s): each run rewrites home, the first
    # list pages and the top details before their previous copy can expire, so the pages most
    # visits start from never miss, even when a run starts late behind a busy worker. Expiring
    # after one interval drops a run queued behind a slow one: the next is as good.
    "warm-catalog-cache": {
        "task": "catalog.warm_cache",
        "schedule": settings.CACHE_TTLS["catalog"] / 2,
        "options": {"expires": settings.CACHE_TTLS["catalog"] / 2},
    },
    # Every VIDEO_STALL_SECONDS / 2 (60 s at the default 120 s): a transcode whose worker was
    # killed stops renewing its lock, and is queued again within one stall period plus this
    # interval, instead of after the broker's one-hour visibility timeout. An idle site pays
    # one indexed query per run.
    "requeue-stalled-transcodes": {
        "task": "videos.requeue_stalled",
        "schedule": settings.VIDEO_STALL_SECONDS / 2,
        "options": {"expires": settings.VIDEO_STALL_SECONDS / 2},
    },
}

if settings.CDN_PURGES:
    # Every 2 s: an edit is normally drained by the task its commit starts (CDN_PURGE_DELAY
    # later); this run catches what that leaves: purges refused or rate-limited and due again,
    # a budget that was spent, a worker that died mid-drain. Two seconds keeps "edit to edge"
    # at a few seconds even then, and costs one indexed query per run while the queue is empty.
    # Expiring after one interval: a run queued behind a slow drain is redundant.
    app.conf.beat_schedule["drain-cdn-purge-queue"] = {
        "task": "cdn.drain_purge_queue",
        "schedule": 2.0,
        "options": {"expires": 2.0},
    }
