"""Blocking and lifting: Redis enforces, the database remembers.

A block is a Redis key ``shield:{ip}:block`` holding the reason, expiring after the block's
duration, so every instance enforces it and it ends by itself. Durations escalate for repeat
offenders (``SHIELD_BLOCK_DURATIONS``, e.g. 1 min, 10 min, 1 h): the offence count lives in
Redis for ``SHIELD_OFFENCE_MEMORY_SECONDS``. Every block also writes a ``Block`` audit row, which
editors see in the admin and from which they lift blocks.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction
from django.utils import timezone

from shield import local_blocks, store
from shield.models import Block, Reason
from streamsite.metrics import DDOS_BLOCKS

logger = logging.getLogger("streamsite.shield")

# Sets the block unless one exists (two workers crossing a threshold together block once),
# escalates the duration with the offence count, and resets the counters so the client starts
# clean when the block ends.
_BLOCK = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return false
end
local offence = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
local ladder = #ARGV - 2
local duration = tonumber(ARGV[2 + math.min(offence, ladder)])
redis.call('SET', KEYS[1], ARGV[1], 'EX', duration)
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return {offence, duration}
"""


@dataclass(frozen=True)
class Keys:
    block: str
    offences: str
    requests: str
    errors: str
    missing: str
    logins: str


def keys_for(ip: str) -> Keys:
    # The {ip} hash tag keeps one client's keys in one Redis Cluster slot, as multi-key
    # scripts require.
    base = f"shield:{{{ip}}}"
    return Keys(
        block=f"{base}:block",
        offences=f"{base}:offences",
        requests=f"{base}:requests",
        errors=f"{base}:errors",
        missing=f"{base}:missing",
        logins=f"{base}:logins",
    )


def block(*, ip: str, reason: Reason, evidence: dict[str, Any]) -> int | None:
    """Block ``ip`` now; returns the duration in seconds, or None if it was already blocked.

    Raises RedisError when Redis is unavailable (nothing is blocked then).
    """
    keys = keys_for(ip)
    result = store.run(
        _BLOCK,
        keys=[keys.block, keys.offences, keys.requests, keys.errors, keys.missing, keys.logins],
        args=[
            reason.value,
            settings.SHIELD_OFFENCE_MEMORY_SECONDS,
            *settings.SHIELD_BLOCK_DURATIONS,
        ],
    )
    if result is None:
        return None
    offence, duration = int(result[0]), int(result[1])
    DDOS_BLOCKS.labels(reason=reason.value).inc()
    logger.warning(
        "shield: blocked %s for %ss (offence %s): %s %s over %s in %ss",
        ip,
        duration,
        offence,
        reason.value,
        evidence.get("count"),
        evidence.get("threshold"),
        evidence.get("window_seconds"),
    )
    _audit(ip=ip, reason=reason, offence=offence, duration=duration, evidence=evidence)
    return duration


def _audit(
    *, ip: str, reason: Reason, offence: int, duration: int, evidence: dict[str, Any]
) -> None:
    # The block is already enforced in Redis; a database hiccup must not undo it or fail the
    # request, it only costs the audit row.
    try:
        with transaction.atomic():
            Block.objects.create(
                ip=ip,
                reason=reason,
                offence=offence,
                duration_seconds=duration,
                evidence=evidence,
                expires_at=timezone.now() + dt.timedelta(seconds=duration),
            )
    except DatabaseError:
        logger.exception("shield: could not write the audit row for the block of %s", ip)


def lift_blocks(*, block_ids: list[int], lifted_by: AbstractBaseUser | None) -> int:
    """Lift active blocks now: delete their Redis keys and mark the rows; returns how many.

    The offence count goes too: an editor lifting a block says the client is not an abuser,
    so its next block starts again at the shortest duration. Raises RedisError when Redis is
    unavailable, leaving the rows untouched.
    """
    with transaction.atomic():
        blocks = list(Block.objects.active().filter(pk__in=block_ids).select_for_update())
        ips = sorted({b.ip for b in blocks})
        if ips:
            store.client().delete(
                *[key for ip in ips for key in (keys_for(ip).block, keys_for(ip).offences)]
            )
        now = timezone.now()
        for found in blocks:
            found.lifted_at = now
            found.lifted_by = lifted_by
        Block.objects.bulk_update(blocks, ["lifted_at", "lifted_by"])
    for ip in ips:
        local_blocks.forget(ip)
    return len(blocks)
