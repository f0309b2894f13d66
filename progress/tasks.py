"""Celery tasks of the progress app: thin, they call a service."""

from __future__ import annotations

from celery import shared_task

from progress import services


@shared_task(name="progress.flush")
def flush_progress() -> int:
    """Write the Redis progress buffer to the database; returns rows written."""
    return services.flush_buffer().rows_written
