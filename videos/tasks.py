"""Celery tasks: the transcode, and the sweeper that restarts transcodes whose worker died."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from videos import pipeline
from videos.models import VideoAsset


# acks_late + reject_on_worker_lost: a worker process killed mid-transcode leaves its message
# to be delivered again rather than lost. The pipeline's lock turns a redelivery that arrives
# while the first attempt still runs into a no-op; when a whole worker dies, the broker would
# redeliver only after its visibility timeout (an hour with Redis), so the sweeper re-queues.
@shared_task(name="videos.transcode", acks_late=True, reject_on_worker_lost=True)
def transcode(asset_id: int) -> str:
    return pipeline.transcode(asset_id).status


@shared_task(name="videos.requeue_stalled")
def requeue_stalled() -> int:
    """Queue every transcode that stopped reporting (its worker died) or never started."""
    stalled = dict(VideoAsset.objects.stalled().values_list("pk", "status"))
    # An upload still waiting behind a long queue is queued once more per stall period, not at
    # every sweep. A dead transcode keeps its old heartbeat: that is what lets a new attempt in.
    waiting = [pk for pk, status in stalled.items() if status == VideoAsset.Status.UPLOADED]
    VideoAsset.objects.filter(pk__in=waiting).update(heartbeat_at=timezone.now())
    for asset_id in stalled:
        transcode.delay(asset_id)
    return len(stalled)
