"""Purging the edge: what the rest of the code calls, and the drain the Celery task runs.

Callers name what changed (URLs, cache tags, or everything) with :func:`purge_on_commit`,
from a signal receiver or an admin action. Once the transaction commits, the items join the
queue (``cdn.models.QueuedPurge``, one row per URL or tag, so repeats coalesce), due
``CDN_PURGE_DELAY`` later, and a drain is started for when they are due.

:func:`drain` sends what is due in batches of the provider's size, within its budget (a token
bucket, ``cdn.budget``), through its client (retries, the shared breaker). A batch the provider
refuses stays queued, due again after a backoff with full jitter or after the ``Retry-After``
it was given, and the drain stops for this round: nothing is dropped while the provider is
down, the queue only waits. Every request sent is logged as a ``CdnPurge``.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from cdn import providers
from cdn.budget import Bucket
from cdn.models import CdnPurge, Kind, QueuedPurge
from cdn.providers.base import Answer, Provider
from streamsite import cache
from streamsite import clock as project_clock
from streamsite.resilience import full_jitter_delay

log = logging.getLogger(__name__)

EVERYTHING = "*"
_LOCK = "cdn:drain:lock"
# A drain stops after this long (the next beat goes on), and its lock outlives it.
_DRAIN_SECONDS = 60.0
_LOCK_SECONDS = 300
_KICK = "cdn:drain:kicked"
_REASONS_SHOWN = 5

Clock = Callable[[], float]


def enabled() -> bool:
    return providers.current() is not None


# --- Queueing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    kind: str
    value: str
    reason: str = ""
    requested_by_id: int | None = None


def items(
    *,
    urls: Iterable[str] = (),
    tags: Iterable[str] = (),
    everything: bool = False,
    reason: str = "",
    requested_by_id: int | None = None,
) -> list[Item]:
    named = [(Kind.URL, url) for url in urls if url] + [(Kind.TAG, tag) for tag in tags if tag]
    if everything:
        named.append((Kind.EVERYTHING, EVERYTHING))
    return [Item(kind, value, reason, requested_by_id) for kind, value in named]


def purge_on_commit(
    *,
    urls: Iterable[str] = (),
    tags: Iterable[str] = (),
    everything: bool = False,
    reason: str = "",
    requested_by: Any = None,
) -> None:
    """Queue these once the current transaction commits (at once outside one).

    A rolled-back change purges nothing, and the purge cannot run before the change is visible.
    """
    if not enabled():
        return
    user_id = getattr(requested_by, "pk", requested_by)
    named = items(
        urls=urls, tags=tags, everything=everything, reason=reason, requested_by_id=user_id
    )
    if not named:
        return

    def queue_and_kick() -> None:
        # Tasks inline (no worker, no beat): the drain about to run here is the only one, so
        # what it queues must be due for it.
        queue_items(named, delay=0.0 if settings.CELERY_TASK_ALWAYS_EAGER else None)
        kick()

    transaction.on_commit(queue_and_kick)


def queue(
    *,
    urls: Iterable[str] = (),
    tags: Iterable[str] = (),
    everything: bool = False,
    reason: str = "",
    requested_by_id: int | None = None,
    delay: float | None = None,
    now: float | None = None,
) -> int:
    """Add items to the queue now (see :func:`queue_items`)."""
    named = items(
        urls=urls,
        tags=tags,
        everything=everything,
        reason=reason,
        requested_by_id=requested_by_id,
    )
    return queue_items(named, delay=delay, now=now)


def queue_items(named: list[Item], *, delay: float | None = None, now: float | None = None) -> int:
    """Add items to the queue now; one already waiting is kept once, due at the later time and
    with the latest reason. Returns how many distinct items were named."""
    latest = {(item.kind, item.value[:2048]): item for item in named}
    if not latest:
        return 0
    moment = _moment(project_clock.time() if now is None else now)
    due = moment + dt.timedelta(seconds=settings.CDN_PURGE_DELAY if delay is None else delay)
    rows = [
        QueuedPurge(
            kind=kind,
            value=value,
            due_at=due,
            queued_at=moment,
            token=_token(),
            reason=item.reason[:255],
            requested_by_id=item.requested_by_id,
        )
        for (kind, value), item in latest.items()
    ]
    QueuedPurge.objects.bulk_create(
        rows,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["kind", "value"],
        update_fields=["due_at", "queued_at", "token", "reason", "requested_by"],
    )
    return len(rows)


def kick(countdown: float | None = None) -> None:
    """Start a drain in ``countdown`` seconds (when items queued now are due), unless one is
    already on its way: that one starts another for whatever it finds not yet due."""
    from cdn import tasks

    countdown = float(settings.CDN_PURGE_DELAY if countdown is None else countdown)
    eager = settings.CELERY_TASK_ALWAYS_EAGER  # the drain runs here and now, and is over
    if not eager and cache.add(_KICK, 1, max(countdown, 0.1)) is False:
        return
    tasks.drain_purge_queue.apply_async(countdown=countdown)


def pending() -> int:
    return QueuedPurge.objects.count()


def image_urls(url: str) -> list[str]:
    """Every URL under which the edge may hold the uploaded image at ``url``: its sizes too
    where the edge keeps them apart (ours), the original alone where purging it purges every
    size (Cloudflare)."""
    provider = providers.current()
    return provider.image_urls(url) if provider is not None else []


def _token() -> int:
    return secrets.randbelow(2**31 - 1) + 1


def _moment(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


# --- Draining -------------------------------------------------------------------------------


@dataclass
class DrainResult:
    requests: int = 0  # purge requests sent
    purged: int = 0  # items the edge forgot
    refused: int = 0  # requests the provider refused (their items wait)
    remaining: int = 0
    # Seconds until the next request could go (budget, backoff, or the next item's due time);
    # None when nothing is waiting.
    wait: float | None = None
    locked: bool = False  # another drain is running
    answers: list[Answer] = field(default_factory=list)


def drain(*, clock: Clock = project_clock.time, max_requests: int | None = None) -> DrainResult:
    """Send what is due, within the budget, until nothing more may go now."""
    provider = providers.current()
    result = DrainResult()
    if provider is None:
        return result
    lock = uuid.uuid4().hex
    if not cache.add(_LOCK, lock, _LOCK_SECONDS):
        result.locked = True
        return result
    started = time.monotonic()
    budget = provider.budget()
    bucket = Bucket(provider.name, budget, now=clock()) if budget else None
    try:
        while max_requests is None or result.requests < max_requests:
            if time.monotonic() - started > _DRAIN_SECONDS:
                result.wait = 0.0
                break
            now = clock()
            if bucket is not None and (wait := bucket.wait(now)) > 0:
                result.wait = wait
                break
            batch = _next_batch(provider, now)
            if not batch:
                result.wait = _until_next_due(now)
                break
            answer = provider.purge(batch[0].kind, [item.value for item in batch])
            result.answers.append(answer)
            if not answer.sent:  # the circuit is open: nothing went out, nothing is charged
                result.wait = answer.retry_after or 1.0
                break
            result.requests += 1
            if bucket is not None:
                bucket.take(now)
            if answer.ok:
                result.purged += _done(batch, now)
                _log(provider, batch, answer, CdnPurge.Status.DONE)
                continue
            result.refused += 1
            wait = _back_off(batch, answer, now)
            if bucket is not None and answer.http_status == 429:
                bucket.block(now, wait)
            status = CdnPurge.Status.RETRYING if answer.http_status else CdnPurge.Status.FAILED
            _log(provider, batch, answer, status)
            result.wait = wait
            break  # the provider is unhappy: the next round tries again
    finally:
        if bucket is not None:
            bucket.save()
        if cache.get(_LOCK) == lock:
            cache.delete(_LOCK)
    result.remaining = pending()
    return result


def _next_batch(provider: Provider, now: float) -> list[QueuedPurge]:
    """Everything first (it covers the rest), then the kind of the item due longest."""
    due = QueuedPurge.objects.due(_moment(now))
    first = due.only("kind").first()
    if first is None:
        return []
    everything = due.filter(kind=Kind.EVERYTHING).first()
    if everything is not None:
        return [everything]
    return list(due.filter(kind=first.kind).select_related("requested_by")[: provider.batch_size])


def _until_next_due(now: float) -> float | None:
    item = QueuedPurge.objects.only("due_at").first()
    if item is None:
        return None
    return max(0.0, item.due_at.timestamp() - now)


def _done(batch: list[QueuedPurge], now: float) -> int:
    """Remove what was purged; items queued again meanwhile (a new token) stay for their turn."""
    if batch[0].kind == Kind.EVERYTHING:
        # Everything queued before the purge went out is covered by it.
        sent = batch[0].queued_at
        deleted, _ = QueuedPurge.objects.filter(queued_at__lte=sent).delete()
        return deleted
    with transaction.atomic():
        deleted, _ = QueuedPurge.objects.filter(pk__in=_unchanged(batch)).delete()
    return deleted


def _unchanged(batch: list[QueuedPurge]) -> list[int]:
    """The items of ``batch`` nobody queued again since it was read, locked until the commit
    (a concurrent queue() waits for it)."""
    tokens = dict(
        QueuedPurge.objects.select_for_update()
        .filter(pk__in=[item.pk for item in batch])
        .values_list("pk", "token")
    )
    return [item.pk for item in batch if tokens.get(item.pk) == item.token]


def _back_off(batch: list[QueuedPurge], answer: Answer, now: float) -> float:
    attempts = max(item.attempts for item in batch) + 1
    if answer.retry_after is not None:
        wait = float(answer.retry_after)
    else:
        wait = full_jitter_delay(
            attempts - 1,
            base=settings.CDN_PURGE_BACKOFF_BASE,
            cap=settings.CDN_PURGE_BACKOFF_CAP,
        )
    due = _moment(now + wait)
    with transaction.atomic():
        QueuedPurge.objects.filter(pk__in=_unchanged(batch)).update(
            attempts=min(attempts, 32_767), due_at=due
        )
    log.warning(
        "CDN purge of %d %s refused (%s); again in %.1f s",
        len(batch),
        batch[0].kind,
        answer.detail,
        wait,
    )
    return wait


def _log(provider: Provider, batch: list[QueuedPurge], answer: Answer, status: str) -> None:
    reasons = list(dict.fromkeys(item.reason for item in batch if item.reason))
    reason = "; ".join(reasons[:_REASONS_SHOWN])
    if len(reasons) > _REASONS_SHOWN:
        reason += f"; and {len(reasons) - _REASONS_SHOWN} more"
    requested_by = next((item.requested_by for item in batch if item.requested_by_id), None)
    CdnPurge.objects.create(
        provider=provider.name,
        kind=batch[0].kind,
        items=[item.value for item in batch],
        count=len(batch),
        status=status,
        reason=reason,
        requested_by=requested_by,
        http_status=answer.http_status,
        answer=answer.detail,
        retry_after=answer.retry_after,
        queue_length=pending(),
    )
