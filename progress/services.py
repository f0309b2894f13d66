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
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from catalog.models import Movie
from progress import buffer, qoe, rules, tokens, watchable
from progress.models import PlaybackQuality, PlaybackRungTime, ViewingSession, WatchProgress
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


def is_watchable(movie_id: int) -> bool:
    """Whether heartbeats may name the movie: a published one (remembered for a minute)."""
    return watchable.is_watchable(movie_id)


def get_progress(*, user_id: int, movie_id: int) -> WatchProgress | None:
    """The newest known progress (Redis's entry or the database's row), or None."""
    return buffer.get_progress(user_id=user_id, movie_id=movie_id)


def progress_of(*, user_id: int, movie_id: int) -> WatchProgress:
    """The viewer's progress in the movie; when there is none, an unsaved one at the start."""
    progress = get_progress(user_id=user_id, movie_id=movie_id)
    if progress is None:
        return WatchProgress(
            user_id=user_id,
            movie_id=movie_id,
            position=0.0,
            duration=0.0,
            completed=False,
            updated_at=None,
        )
    return progress


def continue_watching(*, user_id: int, limit: int) -> list[WatchProgress]:
    """The user's unfinished movies with a resume point, most recently watched first, each with
    ``.movie`` loaded: the database rows overlaid with what Redis has not flushed yet.

    At most two queries: the user's rows (plus those Redis knows newer versions of), and the
    movies only Redis knows about.
    """
    buffered = buffer.buffered_for_user(user_id)
    stored = (
        WatchProgress.objects.for_user(user_id)
        .filter(movie__is_published=True)
        .filter(
            Q(completed=False, position__gte=settings.PROGRESS_MIN_RESUME_SECONDS)
            | Q(movie_id__in=list(buffered))
        )
        .select_related("movie")
        .defer("movie__search_vector")
        .recent_first()[: limit + len(buffered)]
    )
    merged = {progress.movie_id: progress for progress in stored}
    unseen: dict[int, WatchProgress] = {}
    for movie_id, fresh in buffered.items():
        known = merged.get(movie_id)
        if known is None:
            if fresh.has_resume_point():
                unseen[movie_id] = fresh
        elif fresh.client_ts > known.client_ts:
            fresh.movie = known.movie
            merged[movie_id] = fresh
    if unseen:
        for movie in Movie.objects.published().filter(pk__in=list(unseen)).defer("search_vector"):
            unseen[movie.pk].movie = movie
            merged[movie.pk] = unseen[movie.pk]
    items = [p for p in merged.values() if p.has_resume_point()]
    items.sort(key=lambda p: (p.updated_at, p.movie_id), reverse=True)
    return items[:limit]


def resume_position(*, user_id: int | None, movie_id: int) -> float:
    """Where the viewer's playback of the movie should start: the saved position, or 0 when
    there is none, it is too early to count, or the movie was finished (watch it again)."""
    if user_id is None:
        return 0.0
    progress = get_progress(user_id=user_id, movie_id=movie_id)
    return progress.resume_position() if progress is not None else 0.0


def playback_token(*, user_id: int, movie_id: int) -> str:
    """What the watch page gives the player to authenticate its heartbeats (progress/tokens.py)."""
    return tokens.issue(user_id=user_id, movie_id=movie_id)


def start_viewing_session(
    *, user_id: int, movie_id: int, device: str, session_id: uuid.UUID | None = None
) -> ViewingSession:
    """A new viewing session, under ``session_id`` when the page chose one.

    The same request sent again answers the session it created; an id that names another
    viewer's or another movie's session is not reused (nor said to exist): a new id is drawn.
    """
    if session_id is not None:
        existing = ViewingSession.objects.filter(pk=session_id).first()
        if existing is not None and (existing.user_id, existing.movie_id) == (user_id, movie_id):
            return existing
        if existing is not None:
            session_id = None
    # Where it starts: a resume, or from the beginning.
    return ViewingSession.objects.create(
        id=session_id or uuid.uuid4(),
        user_id=user_id,
        movie_id=movie_id,
        device=device[:64],
        resumed_from=resume_position(user_id=user_id, movie_id=movie_id),
    )


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


# --- Playback quality (QoE) -----------------------------------------------------------------


def viewing_session(*, session_id: uuid.UUID, user_id: int) -> ViewingSession | None:
    """The viewer's own session by id; None for another viewer's or one that does not exist."""
    return ViewingSession.objects.filter(pk=session_id, user_id=user_id).first()


def record_quality_report(*, session: ViewingSession, report: qoe.QualityReport) -> int:
    """Add one QoE report to what the session's player measured on that source.

    The session's row for the source is locked for the update, so two reports of one session
    arriving together (the last periodic one and the page-hide beacon) both count. Metrics are
    counted once the report is committed. Returns how many reports the row now adds up.
    """
    played = {height: round(ms) for height, ms in report.played_ms.items() if ms > 0}
    fatal = sum(1 for error in report.errors if error.fatal)
    with transaction.atomic():
        PlaybackQuality.objects.get_or_create(session=session, source=report.source)
        quality = PlaybackQuality.objects.select_for_update().get(
            session=session, source=report.source
        )
        first_startup = quality.startup_ms is None and report.startup_ms is not None
        if first_startup:
            quality.startup_ms = round(report.startup_ms or 0)
        quality.stalls += report.stalls
        quality.stalled_ms += round(report.stalled_ms)
        quality.played_ms += sum(played.values())
        quality.switches_up += report.switches_up
        quality.switches_down += report.switches_down
        newest = quality.client_ts is None or report.client_ts >= quality.client_ts
        if newest:
            quality.client_ts = report.client_ts
            if report.bandwidth_kbps is not None:
                quality.bandwidth_kbps = round(report.bandwidth_kbps)
        quality.errors += len(report.errors)
        quality.fatal_errors += fatal
        codes = dict(quality.error_codes)
        for error in report.errors:
            if error.code in codes or len(codes) < qoe.MAX_ERRORS:
                codes[error.code] = codes.get(error.code, 0) + 1
        quality.error_codes = codes
        quality.reports += 1
        quality.last_reported_at = timezone.now()
        quality.save()
        _add_rung_times(quality, played)
        transaction.on_commit(lambda: _count_quality(report, played, startup=first_startup))
    return quality.reports


def _add_rung_times(quality: PlaybackQuality, played: dict[int, int]) -> None:
    """Add to each rung's time, in the database (the quality row is locked: no race)."""
    existing = set(
        PlaybackRungTime.objects.filter(quality=quality, height__in=played).values_list(
            "height", flat=True
        )
    )
    for height in existing:
        PlaybackRungTime.objects.filter(quality=quality, height=height).update(
            played_ms=F("played_ms") + played[height]
        )
    PlaybackRungTime.objects.bulk_create(
        PlaybackRungTime(quality=quality, height=height, played_ms=ms)
        for height, ms in played.items()
        if height not in existing
    )


STALLS_OBSERVED = 1000


def _count_quality(report: qoe.QualityReport, played: dict[int, int], *, startup: bool) -> None:
    source = qoe.source_label(report.source)
    if startup and report.startup_ms is not None:
        metrics.PLAYBACK_STARTUP_SECONDS.labels(source=source).observe(report.startup_ms / 1000)
    if report.stalls:
        # A report says how many stalls and how long in all, not each one's length: each
        # counts as the report's mean, so the histogram's count and sum stay exact (up to
        # STALLS_OBSERVED a report, far more than 30 s of playback can hold).
        mean = report.stalled_ms / report.stalls / 1000
        for _ in range(min(report.stalls, STALLS_OBSERVED)):
            metrics.PLAYBACK_STALL_SECONDS.labels(source=source).observe(mean)
    for height, ms in played.items():
        metrics.PLAYBACK_RUNG_SECONDS.labels(height=qoe.height_label(height)).inc(ms / 1000)
    for error in report.errors:
        metrics.PLAYBACK_ERRORS.labels(source=source, code=qoe.code_label(error.code)).inc()
