"""The viewing-session manager: watch progress buffered in Redis, written behind to the database.

A heartbeat arrives every 10 s from every viewer. Writing each one to the database would cost
a row update per heartbeat; instead each is one Lua call on Redis, and a Celery beat task
(``progress.services.flush_buffer``) writes the changed entries in bulk every
``PROGRESS_FLUSH_SECONDS``. Reads take the newer of Redis's entry and the database's row.

Redis layout (``streamsite.redis.client()``, the cache's pool; these keys are not cache keys):

``streamsite:progress:e:<user>:<movie>``  hash: pos, dur, done, ts (client ms), seen (server
    ms), sid (viewing session), v (version, bumped by every accepted change), since (server ms
    of the oldest change not yet in the database)
``streamsite:progress:dirty``  set of ``<user>:<movie>`` with changes not yet in the database
``streamsite:progress:processing``  sorted set: entries a flusher has taken, scored by the
    lease deadline (ms); an expired lease means its flusher died and the entry is taken again
``streamsite:progress:u:<user>``  set of movie ids the user has entries for (continue watching)
``streamsite:progress:hpm:<minute>``  heartbeats received in that minute since the epoch (the
    admin dashboard's "heartbeats per minute"); expires after a few minutes

The invariant that makes a flush loss-free: an entry whose latest version is not yet committed
to the database is always in ``dirty`` or in ``processing``. Updating adds it to ``dirty``;
claiming moves it to ``processing`` atomically; it leaves ``processing`` only after its batch
committed, and then only if its version did not change meanwhile (otherwise it goes back to
``dirty``). A flusher killed at any point leaves its entries in ``processing`` until the lease
expires. Taking an entry twice (an expired lease, two flushers) is harmless: the upsert
is idempotent and the newest client timestamp wins in the database statement itself.

Reads ask both Redis and the database and answer the newer by client timestamp: while Redis is
unreachable heartbeats go straight to the database, and a Redis that comes back with its data
(a pause, a restart from its append-only file) still holds the older entry.

Scripts name keys derived from their arguments, which is fine on one Redis server (our
topology) but would need hash tags on Redis Cluster.

Without a Redis cache, with ``PROGRESS_BUFFER_ENABLED=false``, or while Redis is unreachable,
heartbeats are written straight to the database by the same upsert, and nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from redis import Redis
from redis.commands.core import Script
from redis.exceptions import RedisError

from progress.models import WatchProgress
from progress.upsert import Heartbeat, ProgressRow, write_rows
from streamsite import metrics
from streamsite.cache import redis_backed
from streamsite.outage import Backoff
from streamsite.redis import client as redis_client

logger = logging.getLogger("streamsite.progress")

KEY_PREFIX = "streamsite:progress:"
ENTRY_PREFIX = KEY_PREFIX + "e:"
USER_PREFIX = KEY_PREFIX + "u:"
DIRTY_KEY = KEY_PREFIX + "dirty"
PROCESSING_KEY = KEY_PREFIX + "processing"
PER_MINUTE_PREFIX = KEY_PREFIX + "hpm:"
PER_MINUTE_TTL_SECONDS = 180

# A flushed entry stays in Redis this long after its last change, so the late heartbeats of a
# paused film or a replayed offline queue are compared with it in Redis and cost no database
# write. Correctness does not depend on it: reads also ask the database, and the upsert refuses
# anything older than the row.
CLEAN_TTL_MS = int(dt.timedelta(hours=25).total_seconds() * 1000)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# KEYS: entry, dirty, user index, this minute's heartbeat count. ARGV: member, pos, dur, done,
# client ms, server ms, session, movie id, clean TTL, count TTL. Last write wins by client
# timestamp: an equal or older one changes nothing (but is counted as received). O(1): a few
# hash fields, two set adds, one counter.
_UPDATE = Script(
    None,
    b"""
if redis.call('INCR', KEYS[4]) == 1 then
  redis.call('EXPIRE', KEYS[4], ARGV[10])
end
local stored = redis.call('HGET', KEYS[1], 'ts')
if stored and tonumber(stored) >= tonumber(ARGV[5]) then
  return 0
end
redis.call('HSET', KEYS[1], 'pos', ARGV[2], 'dur', ARGV[3], 'done', ARGV[4], 'ts', ARGV[5],
           'seen', ARGV[6], 'sid', ARGV[7])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSETNX', KEYS[1], 'since', ARGV[6])
-- An unflushed entry must never expire; the flush sets the TTL once it is in the database.
redis.call('PERSIST', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[8])
redis.call('PEXPIRE', KEYS[3], ARGV[9])
return 1
""",
)

# KEYS: entry, dirty, user index. ARGV: member, floor client ms, server ms, duration from the
# database ('' if no row), movie id, clean TTL. Clears the resume point with a client
# timestamp newer than anything stored, so heartbeats sent before the removal cannot bring it
# back. Returns 0 when there is nothing to clear.
_CLEAR = Script(
    None,
    b"""
local stored = redis.call('HMGET', KEYS[1], 'ts', 'dur')
local dur = stored[2] or ARGV[4]
if not stored[1] and ARGV[4] == '' then
  return 0
end
local ts = math.max(tonumber(ARGV[2]), tonumber(stored[1] or '0') + 1)
redis.call('HSET', KEYS[1], 'pos', '0', 'dur', dur, 'done', '0', 'ts', string.format('%.0f', ts),
           'seen', ARGV[3], 'sid', '')
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSETNX', KEYS[1], 'since', ARGV[3])
redis.call('PERSIST', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return 1
""",
)

# KEYS: dirty, processing. ARGV: batch size, now ms, lease ms, entry prefix. Takes entries whose
# lease expired (their flusher died) first, then dirty ones, moves them to processing with a
# new lease and returns a snapshot of each: {member, pos, dur, done, ts, seen, sid, v, since}.
_CLAIM = Script(
    None,
    b"""
local n = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local deadline = now + tonumber(ARGV[3])
local members = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, n)
local taken = {}
for _, m in ipairs(members) do taken[m] = true end
if #members < n then
  for _, m in ipairs(redis.call('SPOP', KEYS[1], n - #members)) do
    if not taken[m] then
      taken[m] = true
      members[#members + 1] = m
    end
  end
end
local out = {}
for _, m in ipairs(members) do
  redis.call('ZADD', KEYS[2], deadline, m)
  local f = redis.call('HMGET', ARGV[4] .. m,
                       'pos', 'dur', 'done', 'ts', 'seen', 'sid', 'v', 'since')
  out[#out + 1] = {m, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]}
end
return out
""",
)

# KEYS: dirty, processing. ARGV: entry prefix, clean TTL, then (member, version) pairs of a
# batch that has COMMITTED. Compare-and-delete: an entry unchanged since it was claimed leaves
# the buffer (and may now expire); one changed meanwhile goes back to dirty for the next flush.
_ACK = Script(
    None,
    b"""
for i = 3, #ARGV, 2 do
  local m = ARGV[i]
  local key = ARGV[1] .. m
  redis.call('ZREM', KEYS[2], m)
  if redis.call('HGET', key, 'v') == ARGV[i + 1] then
    redis.call('HDEL', key, 'since')
    redis.call('PEXPIRE', key, ARGV[2])
  elseif redis.call('EXISTS', key) == 1 then
    redis.call('SADD', KEYS[1], m)
  end
end
return 1
""",
)


@dataclass(frozen=True)
class ClaimedEntry:
    member: str
    version: str
    row: ProgressRow | None  # None: the entry vanished from Redis (nothing to write)


@dataclass(frozen=True)
class Claim:
    entries: list[ClaimedEntry]
    oldest_age_seconds: float

    def rows(self) -> list[ProgressRow]:
        return [entry.row for entry in self.entries if entry.row is not None]


# --- Redis access and outage handling ---------------------------------------------------------

# A Redis that hangs costs one timeout per cool-down instead of one per heartbeat.
_backoff = Backoff("progress buffer", fallback="using the database", logger=logger)


def is_buffered() -> bool:
    """Whether heartbeats are meant to go through Redis (whether or not it is up right now)."""
    return settings.PROGRESS_BUFFER_ENABLED and redis_backed()


def _redis() -> Redis | None:
    if not is_buffered() or _backoff.is_down():
        return None
    return redis_client()


def _redis_failed(exc: Exception) -> None:
    metrics.PROGRESS_REDIS_FALLBACKS.inc()
    _backoff.failed(exc)


# --- Conversions ---------------------------------------------------------------------------


def to_ms(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


def from_ms(ms: int) -> dt.datetime:
    # Exact: no float round trip, so a timestamp read back compares equal to the one stored.
    return _EPOCH + dt.timedelta(milliseconds=ms)


def _member(user_id: int, movie_id: int) -> str:
    return f"{user_id}:{movie_id}"


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _row_from_fields(member: str, fields: list[Any]) -> ProgressRow | None:
    pos, dur, done, ts, seen, sid = (_text(value) for value in fields[:6])
    if pos is None or dur is None or ts is None or seen is None:
        return None
    user_id, movie_id = (int(part) for part in member.split(":"))
    return ProgressRow(
        user_id=user_id,
        movie_id=movie_id,
        position=float(pos),
        duration=float(dur),
        completed=done == "1",
        client_ts=from_ms(int(ts)),
        received_at=from_ms(int(seen)),
        session_id=sid or "",
    )


def _progress_from_row(row: ProgressRow) -> WatchProgress:
    """An unsaved WatchProgress, so callers get the same domain methods either way."""
    return WatchProgress(
        user_id=row.user_id,
        movie_id=row.movie_id,
        position=row.position,
        duration=row.duration,
        completed=row.completed,
        client_ts=row.client_ts,
        updated_at=row.received_at,
    )


def _hash_row(member: str, raw: dict[bytes, bytes]) -> ProgressRow | None:
    fields = {_text(k): v for k, v in raw.items()}
    names = ("pos", "dur", "done", "ts", "seen", "sid")
    return _row_from_fields(member, [fields.get(name) for name in names])


# --- Writes -----------------------------------------------------------------------------------


def update_progress(*, user_id: int, movie_id: int, heartbeat: Heartbeat) -> str:
    """Record one heartbeat: "buffered" (Redis), "database" (written directly) or "stale"
    (not newer than what is stored, by client timestamp; nothing changed)."""
    client = _redis()
    result = _buffer(client, user_id, movie_id, heartbeat) if client is not None else None
    if result is None:  # no buffer, or Redis failed: the database takes it, same rule
        row = ProgressRow.of(heartbeat, user_id=user_id, movie_id=movie_id)
        result = "database" if write_rows([row]) else "stale"
    metrics.PROGRESS_HEARTBEATS.labels(result=result).inc()
    return result


def _buffer(client: Redis, user_id: int, movie_id: int, heartbeat: Heartbeat) -> str | None:
    member = _member(user_id, movie_id)
    try:
        applied = _UPDATE(
            keys=[
                ENTRY_PREFIX + member,
                DIRTY_KEY,
                USER_PREFIX + str(user_id),
                _per_minute_key(_minute(heartbeat.received_at)),
            ],
            args=[
                member,
                repr(heartbeat.position),
                repr(heartbeat.duration),
                "1" if heartbeat.completed else "0",
                to_ms(heartbeat.client_ts),
                to_ms(heartbeat.received_at),
                heartbeat.session_id,
                movie_id,
                CLEAN_TTL_MS,
                PER_MINUTE_TTL_SECONDS,
            ],
            client=client,
        )
    except RedisError as exc:
        _redis_failed(exc)
        return None
    return "buffered" if applied else "stale"


def clear_resume_point(*, user_id: int, movie_id: int) -> bool:
    """Take the movie out of continue watching: position 0, not completed, with a client
    timestamp newer than any stored one so in-flight heartbeats cannot bring it back.
    Returns False when there was no progress to clear."""
    stored = (
        WatchProgress.objects.filter(user_id=user_id, movie_id=movie_id)
        .only("client_ts", "duration")
        .first()
    )
    now = timezone.now()
    floor = now if stored is None else max(now, stored.client_ts + dt.timedelta(milliseconds=1))
    duration = stored.duration if stored is not None else None
    client = _redis()
    if client is not None:
        cleared = _clear_in_redis(client, user_id, movie_id, floor, now, duration)
        if cleared is not None:
            return cleared
    if stored is None:
        return False
    clearing = Heartbeat(
        position=0.0, duration=stored.duration, completed=False, client_ts=floor, received_at=now
    )
    write_rows([ProgressRow.of(clearing, user_id=user_id, movie_id=movie_id)])
    return True


def _clear_in_redis(
    client: Redis,
    user_id: int,
    movie_id: int,
    floor: dt.datetime,
    now: dt.datetime,
    duration: float | None,
) -> bool | None:
    member = _member(user_id, movie_id)
    try:
        cleared = _CLEAR(
            keys=[ENTRY_PREFIX + member, DIRTY_KEY, USER_PREFIX + str(user_id)],
            args=[
                member,
                to_ms(floor),
                to_ms(now),
                repr(duration) if duration is not None else "",
                movie_id,
                CLEAN_TTL_MS,
            ],
            client=client,
        )
    except RedisError as exc:
        _redis_failed(exc)
        return None
    return bool(cleared)


# --- Reads ------------------------------------------------------------------------------------


def get_progress(*, user_id: int, movie_id: int) -> WatchProgress | None:
    """The newest known progress by client timestamp, from Redis and the database together.

    Neither alone is always the newest: Redis holds what is not flushed yet, and the database
    what heartbeats wrote directly while Redis was unreachable, which the Redis entry (kept
    through a pause, or a restart with its data) knows nothing of. While the database is
    unreachable, what Redis holds is the answer. The result may be unsaved; only read it.
    """
    buffered = _buffered_progress(user_id, movie_id)
    try:
        stored = WatchProgress.objects.filter(user_id=user_id, movie_id=movie_id).first()
    except DatabaseError:
        if buffered is None:
            raise
        return buffered
    if buffered is None or (stored is not None and stored.client_ts >= buffered.client_ts):
        return stored
    return buffered


def _buffered_progress(user_id: int, movie_id: int) -> WatchProgress | None:
    client = _redis()
    if client is None:
        return None
    member = _member(user_id, movie_id)
    try:
        raw = client.hgetall(ENTRY_PREFIX + member)
    except RedisError as exc:
        _redis_failed(exc)
        return None
    row = _hash_row(member, raw) if raw else None
    return _progress_from_row(row) if row is not None else None


def buffered_for_user(user_id: int) -> dict[int, WatchProgress]:
    """Every entry Redis holds for the user, by movie id (unsaved WatchProgress objects)."""
    client = _redis()
    if client is None:
        return {}
    try:
        movie_ids = [int(m) for m in client.smembers(USER_PREFIX + str(user_id))]
        pipe = client.pipeline(transaction=False)
        for movie_id in movie_ids:
            pipe.hgetall(ENTRY_PREFIX + _member(user_id, movie_id))
        hashes = pipe.execute()
    except RedisError as exc:
        _redis_failed(exc)
        return {}
    found: dict[int, WatchProgress] = {}
    for movie_id, raw in zip(movie_ids, hashes, strict=True):
        row = _hash_row(_member(user_id, movie_id), raw) if raw else None
        if row is not None:
            found[movie_id] = _progress_from_row(row)
    return found


# KEYS: the user's index, dirty, processing. ARGV: entry prefix, user id. Deletes every entry of
# the user (and its place in the flush queues); returns how many a flusher had taken.
_FORGET = Script(
    None,
    b"""
local taken = 0
for _, movie in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local member = ARGV[2] .. ':' .. movie
  redis.call('DEL', ARGV[1] .. member)
  redis.call('SREM', KEYS[2], member)
  taken = taken + redis.call('ZREM', KEYS[3], member)
end
redis.call('DEL', KEYS[1])
return taken
""",
)


def forget_user(*, user_id: int) -> int | None:
    """Delete every buffered entry of the user; returns how many a flush had taken and may
    still write (None when there is no buffer or Redis failed)."""
    client = _redis()
    if client is None:
        return None
    try:
        return int(
            _FORGET(
                keys=[USER_PREFIX + str(user_id), DIRTY_KEY, PROCESSING_KEY],
                args=[ENTRY_PREFIX, user_id],
                client=client,
            )
        )
    except RedisError as exc:
        _redis_failed(exc)
        return None


def _minute(moment: dt.datetime) -> int:
    return int(moment.timestamp()) // 60


def _per_minute_key(minute: int) -> str:
    return f"{PER_MINUTE_PREFIX}{minute}"


def heartbeats_per_minute(now: dt.datetime | None = None) -> float | None:
    """Heartbeats received over the last 60 seconds, across every process: this minute's count
    plus the share of the previous minute still inside the window. None without the buffer
    (heartbeats then go straight to the database, uncounted)."""
    client = _redis()
    if client is None:
        return None
    now = now or timezone.now()
    minute = _minute(now)
    try:
        current, previous = client.mget([_per_minute_key(minute), _per_minute_key(minute - 1)])
    except RedisError as exc:
        _redis_failed(exc)
        return None
    elapsed = (now.timestamp() % 60) / 60
    return int(current or 0) + int(previous or 0) * (1 - elapsed)


def pending_count() -> int:
    """Entries with changes not yet in the database (0 without a Redis buffer)."""
    client = _redis()
    if client is None:
        return 0
    pipe = client.pipeline(transaction=False)
    pipe.scard(DIRTY_KEY)
    pipe.zcard(PROCESSING_KEY)
    dirty, processing = pipe.execute()
    return int(dirty) + int(processing)


# --- Flush support (progress.services.flush_buffer) -------------------------------------------


def claim_batch(*, size: int, lease_seconds: float) -> Claim:
    """Take up to ``size`` entries for writing, under a lease. Raises RedisError if Redis is
    down: the entries then simply stay where they are."""
    client = _redis()
    if client is None:
        return Claim(entries=[], oldest_age_seconds=0.0)
    now_ms = to_ms(timezone.now())
    snapshot = _CLAIM(
        keys=[DIRTY_KEY, PROCESSING_KEY],
        args=[size, now_ms, max(0, round(lease_seconds * 1000)), ENTRY_PREFIX],
        client=client,
    )
    entries: list[ClaimedEntry] = []
    oldest_ms = now_ms
    for item in snapshot:
        member = _text(item[0]) or ""
        fields = list(item[1:]) + [None] * (9 - len(item))
        version, since = _text(fields[6]), _text(fields[7])
        if since is not None:
            oldest_ms = min(oldest_ms, int(since))
        entries.append(
            ClaimedEntry(member=member, version=version or "", row=_row_from_fields(member, fields))
        )
    return Claim(entries=entries, oldest_age_seconds=(now_ms - oldest_ms) / 1000)


def acknowledge(entries: list[ClaimedEntry]) -> None:
    """Call only after the batch committed: unchanged entries leave the buffer."""
    client = _redis()
    if client is None or not entries:
        return
    args: list[str | int] = [ENTRY_PREFIX, CLEAN_TTL_MS]
    for entry in entries:
        args += [entry.member, entry.version]
    _ACK(keys=[DIRTY_KEY, PROCESSING_KEY], args=args, client=client)
