"""Every custom Prometheus metric of the project, defined once, named ``streamsite_<thing>``.

Other modules import the metric objects from here; none defines its own.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Under gunicorn every worker writes its figures to PROMETHEUS_MULTIPROC_DIR and /metrics adds
# them up (see deploy/gunicorn.conf.py). A Gauge therefore needs a multiprocess_mode saying how
# workers combine: "livesum" for things that add up across live workers, "max"/"min" for
# shared state each worker merely observes; the default ("all") keeps one series per pid.

# --- Requests (streamsite/monitoring.py) ---

INFLIGHT_REQUESTS = Gauge(
    "streamsite_inflight_requests",
    "Requests being handled right now, across the live workers.",
    multiprocess_mode="livesum",
)
REQUEST_SECONDS = Histogram(
    "streamsite_request_seconds",
    "Time to answer a request, by URL pattern name (route) and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# --- Caching (streamsite/cache.py) ---

CACHE_REQUESTS = Counter(
    "streamsite_cache_requests_total",
    "Reads through streamsite.cache.cached() by namespace and result (hit, miss, stale: an old "
    "copy served because loading failed).",
    ["namespace", "result"],
)
CACHE_ERRORS = Counter(
    "streamsite_cache_errors_total",
    "Cache operations that failed (get, set, add, delete, bump: the cache server was "
    "unavailable; decode: a stored entry could not be read and was treated as a miss).",
    ["operation"],
)

# --- Outbound HTTP and circuit breakers (streamsite/resilience.py) ---

CIRCUIT_STATE = Gauge(
    "streamsite_circuit_state",
    "Circuit breaker state as this process last saw it: 0 closed, 1 half-open, 2 open. "
    "provider is the streaming provider's slug, or the service (tmdb) for other breakers.",
    ["provider"],
)
OUTBOUND_REQUESTS = Counter(
    "streamsite_outbound_requests_total",
    "Outbound HTTP attempts by service and outcome (success, client_error, rate_limited, "
    "server_error, timeout, connection_error, error, circuit_open).",
    ["service", "outcome"],
)
OUTBOUND_REQUEST_SECONDS = Histogram(
    "streamsite_outbound_request_seconds",
    "Duration of one outbound HTTP attempt.",
    ["service"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# --- Streaming providers (streaming/providers/) ---
# Circuit state per provider is streamsite_circuit_state{name="provider:<slug>"} above.

PROVIDER_REQUESTS = Counter(
    "streamsite_provider_requests_total",
    "Health checks of streaming providers (probe and live check) by outcome: ok, "
    "server_error, client_error, bad_response (answered, but not with a player page), "
    "timeout, connection_error, error, circuit_open (skipped, nothing sent).",
    ["provider", "outcome"],
)
PROVIDER_REQUEST_SECONDS = Histogram(
    "streamsite_provider_request_seconds",
    "Duration of one health check of a streaming provider, whatever its outcome.",
    ["provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# --- Rate limiting and DDoS protection (shield/) ---

RATELIMIT_DECISIONS = Counter(
    "streamsite_ratelimit_decisions_total",
    "Rate-limit decisions by requester tier (progress: heartbeats known by their playback "
    "token) and result (allowed, limited, fail_open: Redis was unavailable and the request "
    "was let through uncounted).",
    ["tier", "result"],
)
DDOS_BLOCKS = Counter(
    "streamsite_ddos_blocks_total",
    "Client IPs blocked automatically, by the signal that crossed its threshold "
    "(request_rate, error_rate, missing_paths, failed_logins).",
    ["reason"],
)

# --- Watch progress (progress/) ---

PROGRESS_HEARTBEATS = Counter(
    "streamsite_progress_heartbeats_total",
    "Progress heartbeats taken, by where they went: buffered (Redis), database (written "
    "directly: no Redis, buffer disabled or Redis down), stale (older than the stored position "
    "by client timestamp, ignored).",
    ["result"],
)
PROGRESS_REDIS_FALLBACKS = Counter(
    "streamsite_progress_redis_fallbacks_total",
    "Progress operations that found Redis unavailable and used the database instead.",
)
PROGRESS_FLUSH_ROWS = Counter(
    "streamsite_progress_flush_rows_total",
    "Watch-progress rows the buffer flush inserted or updated in the database.",
)
PROGRESS_FLUSH_SECONDS = Histogram(
    "streamsite_progress_flush_seconds",
    "Duration of one buffer flush (all its batches).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
PROGRESS_FLUSH_RETRIES = Counter(
    "streamsite_progress_flush_retries_total",
    "Batch writes of the buffer flush retried after a database error.",
)
PROGRESS_OLDEST_PENDING_SECONDS = Gauge(
    "streamsite_progress_oldest_pending_seconds",
    "Age of the oldest buffered change when the last flush took it: how far the database "
    "lagged behind the viewers.",
)
PROGRESS_PENDING_ENTRIES = Gauge(
    "streamsite_progress_pending_entries",
    "Buffered progress entries not yet written to the database, after the last flush.",
)

# --- Celery worker and beat (streamsite/celery_metrics.py) ---
# They have no web server of their own: each serves these, and the flush and probe figures above,
# on METRICS_PORT.

CELERY_TASKS = Counter(
    "streamsite_celery_tasks_total",
    "Tasks run, by task name and outcome (success, failure, retry).",
    ["task", "outcome"],
)
CELERY_TASK_SECONDS = Histogram(
    "streamsite_celery_task_seconds",
    "Duration of one task run, by task name, whatever its outcome.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0),
)
BEAT_SENDS = Counter(
    "streamsite_beat_sends_total",
    "Periodic tasks the beat sent to the broker, by task name.",
    ["task"],
)

# --- Host and database (set when scraped, and by the replica router) ---

DISK_FREE_RATIO = Gauge(
    "streamsite_disk_free_ratio",
    "Free share (0 to 1) of the disk holding MEDIA_ROOT, as this process sees it when scraped.",
    # "max": only the worker answering the scrape sets it, the others' files hold 0.
    multiprocess_mode="max",
)
DATABASE_REPLICA_LAG = Gauge(
    "streamsite_database_replica_lag_seconds",
    "How far a read replica's replay is behind the primary's last commit, by database alias, "
    "as last measured by the router (streamsite/db_router.py); -1 while it cannot be reached.",
    ["alias"],
    multiprocess_mode="max",
)
DATABASE_REPLICA_USABLE = Gauge(
    "streamsite_database_replica_usable",
    "1 while the router sends reads to this replica, 0 while it skips it (down, or lagging "
    "beyond DATABASE_REPLICA_MAX_LAG).",
    ["alias"],
    multiprocess_mode="min",
)
DATABASE_READS = Counter(
    "streamsite_database_reads_total",
    "Reads the router placed, by database alias (default: the primary).",
    ["alias"],
)

# --- Playback quality (progress/qoe.py, reported by the watch page's player) ---
# Labels come from what players report, so each is one of a known few (progress.qoe): source is
# "self-hosted" or a provider's slug, height a rung of VIDEO_LADDER, code one of hls.js's error
# details or the watch page's own; anything else is counted as "other".

PLAYBACK_STARTUP_SECONDS = Histogram(
    "streamsite_playback_startup_seconds",
    "From the player choosing a source to its first frame (for an embed: to its proof of "
    "playing), once per viewing session and source.",
    ["source"],
    buckets=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0),
)
PLAYBACK_STALL_SECONDS = Histogram(
    "streamsite_playback_stall_seconds",
    "Stalls after start-up (the buffer ran dry and the picture stopped), by their length. A "
    "report gives the number of stalls and their total, so each counts as its report's mean.",
    ["source"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
)
PLAYBACK_RUNG_SECONDS = Counter(
    "streamsite_playback_rung_seconds_total",
    "Seconds played at each rung of our own ladder, by the rung's height.",
    ["height"],
)
PLAYBACK_ERRORS = Counter(
    "streamsite_playback_errors_total",
    "Errors players met, fatal or not, by source and code (hls.js's error detail, or the watch "
    "page's: no_answer, media_error, refused_everywhere, not_supported).",
    ["source", "code"],
)
PLAYBACK_FAILURE_REPORTS = Counter(
    "streamsite_playback_failure_reports_total",
    "Viewers' reports that a provider's player did not play (no_answer: no proof within its "
    "timeout; error: it failed after). Each may start a probe of the provider, at most one "
    "per provider every few seconds; reports themselves never count toward its breaker.",
    ["provider", "reason"],
)
