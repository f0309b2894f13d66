"""Celery tasks of the CDN app: draining the purge queue (thin: the work is in services)."""

from __future__ import annotations

from celery import shared_task

from cdn import services

# The beat runs it every 2 s (streamsite/celery.py); each change starts one too.
FOLLOW_UP_SECONDS = 2.0


@shared_task(name="cdn.drain_purge_queue", ignore_result=True)
def drain_purge_queue() -> dict[str, object]:
    """Send the purges that are due, within the provider's budget. Callable synchronously."""
    result = services.drain()
    # Items queued while a drain was on its way are due a little after it ran: one more drain
    # then, rather than waiting for the beat. Not when called in the caller (eager, or
    # synchronously): the caller asked for one drain, and nothing would wait between them.
    eager = drain_purge_queue.request.is_eager or drain_purge_queue.request.id is None
    if not eager and result.wait is not None and result.wait < FOLLOW_UP_SECONDS:
        services.kick(countdown=result.wait)
    return {
        "requests": result.requests,
        "purged": result.purged,
        "refused": result.refused,
        "remaining": result.remaining,
        "wait": result.wait,
        "locked": result.locked,
    }
