"""Celery tasks of the progress app: thin, they call a service."""

from __future__ import annotations

from celery import shared_task
from django.utils.dateparse import parse_datetime

from progress import history, services


@shared_task(name="progress.flush")
def flush_progress() -> int:
    """Write the Redis progress buffer to the database; returns rows written."""
    return services.flush_buffer().rows_written


@shared_task(name="progress.forget_flushed_history")
def forget_flushed_history(user_id: int, before: str) -> int:
    """Finish forgetting a viewer's history after a flush that held some of it."""
    moment = parse_datetime(before)
    if moment is None:
        return 0
    return history.forget_flushed_history(user_id=user_id, before=moment)
