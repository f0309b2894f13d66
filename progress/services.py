"""Watch-progress writes: heartbeats, removal from continue watching, the buffer flush."""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, InterfaceError, OperationalError, connection
from django.http import HttpRequest
from django.utils import timezone

from catalog.models import Movie
from progress import buffer, rules, tokens
from progress.models import ViewingSession
from progress.upsert import ProgressRow, write_rows
from streamsite import metrics
from streamsite.resilience import full_jitter_delay

logger = logging.getLogger("streamsite.progress")


def record_heartbeat(
    *,
    user_id: int,
    movie_id: int,
    position: float,
    duration: float,
    event: str,
    client_ts: dt.datetime,
    session_id: uuid.UUID | None = None,
) -> str:
    """Take one player heartbeat; returns where it went ("buffered", "database", "stale")."""
    position = min(position, duration)  # a position past the end is the end
    heartbeat = buffer.Heartbeat(
        position=position,
        duration=duration,
        completed=rules.is_completed(position=position, duration=duration, ended=event == "ended"),
        client_ts=client_ts,
        received_at=timezone.now(),
        session_id=str(session_id) if session_id else "",
    )
    return buffer.update_progress(user_id=user_id, movie_id=movie_id, heartbeat=heartbeat)


def resume_position(*, user_id: int | None, movie_id: int) -> float:
    """Where the viewer's playback of the movie should start: the saved position, or 0 when
    there is none, it is too early to count, or the movie was finished (watch it again)."""
    if user_id is None:
        return 0.0
    progress = buffer.get_progress(user_id=user_id, movie_id=movie_id)
    return progress.resume_position() if progress is not None else 0.0


def playback_token(*, user_id: int, movie_id: int) -> str:
    """What the watch page gives the player to authenticate its heartbeats (progress/tokens.py)."""
    return tokens.issue(user_id=user_id, movie_id=movie_id)


def heartbeat_viewer(request: HttpRequest) -> int | None:
    """Whose heartbeat this is, by its playback token alone (no session read): the rate
    limiter's bucket for it. None without a genuine, unexpired token in the header."""
    return tokens.viewer_of(request.META.get(tokens.HEADER))


def start_viewing_session(*, user_id: int, movie_id: int, device: str) -> ViewingSession:
    return buffer.start_session(user_id=user_id, movie_id=movie_id, device=device)


def remove_from_continue_watching(*, user_id: int, movie_id: int) -> bool:
    return buffer.clear_resume_point(user_id=user_id, movie_id=movie_id)


# --- The flush ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlushResult:
    batches: int
    entries: int
    rows_written: int
    seconds: float
    oldest_pending_seconds: float


def flush_buffer(*, batch_size: int | None = None) -> FlushResult:
    """Write buffered progress to the database, one bulk upsert per batch.

    Each batch is claimed under a lease, written in its own transaction (retried with backoff
    on database errors) and only then acknowledged, so a flush killed at any point loses
    nothing: its entries are taken again once the lease expires. The flush handles at most as
    many batches as were pending when it started, so a steady stream of heartbeats cannot keep
    one flush running forever; the next beat picks up the rest.
    """
    if not buffer.is_buffered():
        return FlushResult(0, 0, 0, 0.0, 0.0)
    size = batch_size or settings.PROGRESS_FLUSH_BATCH_SIZE
    started = time.perf_counter()
    budget = math.ceil(buffer.pending_count() / size) + 1
    batches = entries = written = 0
    oldest = 0.0
    with metrics.PROGRESS_FLUSH_SECONDS.time():
        for _ in range(budget):
            claim = buffer.claim_batch(
                size=size, lease_seconds=settings.PROGRESS_FLUSH_LEASE_SECONDS
            )
            if not claim.entries:
                break
            oldest = max(oldest, claim.oldest_age_seconds)
            written += _write_batch(claim.rows())
            buffer.acknowledge(claim.entries)
            batches += 1
            entries += len(claim.entries)
    result = FlushResult(batches, entries, written, time.perf_counter() - started, oldest)
    metrics.PROGRESS_FLUSH_ROWS.inc(written)
    metrics.PROGRESS_OLDEST_PENDING_SECONDS.set(oldest)
    metrics.PROGRESS_PENDING_ENTRIES.set(buffer.pending_count())
    logger.info(
        "progress flush: %d rows written from %d entries in %d batches, %.3fs, "
        "oldest pending %.1fs",
        written,
        entries,
        batches,
        result.seconds,
        oldest,
    )
    return result


def _write_batch(rows: list[ProgressRow]) -> int:
    """Write one batch, retrying database errors with exponential backoff and full jitter.

    After the last attempt the error propagates and the batch stays claimed, to be taken
    again when its lease expires.
    """
    attempts = settings.PROGRESS_FLUSH_MAX_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return write_rows(rows)
        except IntegrityError:
            # A movie or user deleted since the heartbeat: drop its rows rather than retry a
            # batch that can never commit.
            rows = _rows_with_existing_targets(rows)
            if attempt == attempts:
                raise
        except (OperationalError, InterfaceError) as exc:
            if attempt == attempts:
                raise
            # The connection may be dead (server restart, killed backend): the next attempt
            # must get a fresh one rather than fail again on this one.
            connection.close()
            delay = full_jitter_delay(
                attempt - 1,
                base=settings.PROGRESS_FLUSH_BACKOFF_BASE,
                cap=settings.PROGRESS_FLUSH_BACKOFF_CAP,
            )
            metrics.PROGRESS_FLUSH_RETRIES.inc()
            logger.warning(
                "progress flush: batch of %d failed (%s); retry %d/%d in %.2fs",
                len(rows),
                exc,
                attempt,
                attempts - 1,
                delay,
            )
            time.sleep(delay)
    return 0


def _rows_with_existing_targets(rows: list[ProgressRow]) -> list[ProgressRow]:
    movie_ids = set(
        Movie.objects.filter(pk__in={r.movie_id for r in rows}).values_list("pk", flat=True)
    )
    user_ids = set(
        get_user_model()
        .objects.filter(pk__in={r.user_id for r in rows})
        .values_list("pk", flat=True)
    )
    kept = [r for r in rows if r.movie_id in movie_ids and r.user_id in user_ids]
    if len(kept) < len(rows):
        logger.warning(
            "progress flush: dropped %d rows of deleted movies or users", len(rows) - len(kept)
        )
    return kept
