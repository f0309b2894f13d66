"""StreamSite settings: one module, configured entirely through the environment.

Nothing set gives the zero-setup demo: SQLite, a local-memory cache and Celery tasks run
eagerly in the web process. ``DATABASE_URL``, ``REDIS_URL`` and ``STREAMSITE_ENV=production``
switch on the production topology. Every variable is listed in ``.env.example``.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from streamsite.env import (
    env_bool,
    env_database,
    env_database_list,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_origin,
    env_redis_url,
    env_str,
    weak_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent

STREAMSITE_ENV = env_str("STREAMSITE_ENV", "development")
if STREAMSITE_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"STREAMSITE_ENV must be 'development' or 'production', got {STREAMSITE_ENV!r}"
    )
PRODUCTION = STREAMSITE_ENV == "production"

# Off unless asked for, in development too: the demo shows the pages and JSON errors production
# does, and Django's debug pages (every URL pattern, settings, the environment) only appear to
# a developer who sets DEBUG=true.
DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when STREAMSITE_ENV=production")
    # Development only: a fixed, obviously insecure key so sessions survive restarts.
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105
elif PRODUCTION and weak_secret_key(SECRET_KEY):
    # A guessable key lets anyone forge sessions, password resets and playback tokens: refuse
    # to start rather than warn in a deploy check nobody reads.
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for production: use at least 50 characters, 5 of them different, "
        "not starting with 'django-insecure-' "
        '(python -c "import secrets; print(secrets.token_urlsafe(50))")'
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Django's admin on StreamSite's site: its header, its dashboard (streamsite/admin_site.py).
    "streamsite.admin_site.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "accounts",
    "shield",
    "cdn",
    "catalog",
    "videos",
    "progress",
    "streaming",
]

MIDDLEWARE = [
    # Before anything that may log: the edge's X-Request-ID (or a new one) in every log line.
    "streamsite.request_id.RequestIdMiddleware",
    # First and last: django-prometheus times and counts everything in between.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "streamsite.monitoring.RequestMetricsMiddleware",
    # gzip where no nginx is in front (nginx asks for none), outside everything that writes a
    # body; never for requests with the session cookie (BREACH, streamsite/compression.py).
    "streamsite.compression.CompressionMiddleware",
    # Every error on /api/ is JSON, including those Django renders itself (debug pages).
    "streamsite.errors.ApiErrorsMiddleware",
    # With read replicas: which database each read of the request goes to, and the viewers who
    # wrote a moment ago, whose reads stay on the primary (streamsite/db_router.py).
    "streamsite.db_router.ReadYourWritesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Who is asking (API key, playback token, session user), worked out once when first asked:
    # the one authentication step, read by the shield, DRF and the views (accounts/identity.py).
    "accounts.middleware.IdentityMiddleware",
    # Client IP, blocks and DDoS detection, once the view is resolved (process_view) and before
    # any other step reads the session or the database: a blocked client costs one Redis
    # round trip, or none while this process remembers the block.
    "shield.middleware.ShieldMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: the limit depends on the tier (user, premium, API key) and on the
    # bucket the view declares (read in process_view).
    "shield.middleware.RateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Around the view: the cache tags of public answers, and the self-hosted edge's tag map.
    "cdn.middleware.EdgeMiddleware",
    "shield.csp.ContentSecurityPolicyMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "streamsite.urls"
# Which part of the site this process serves (streamsite/urls.py): "all", or one pool behind
# the nginx gateway (deploy/nginx): "web" pages, "api" the REST API, "progress" the player's
# heartbeats and viewing sessions, "admin" the editors' admin. Health checks and /metrics are
# served by every role.
SERVICE_ROLES = ("all", "web", "api", "progress", "admin")
SERVICE_ROLE = env_str("SERVICE_ROLE", "all").lower()
if SERVICE_ROLE not in SERVICE_ROLES:
    raise ImproperlyConfigured(
        f"SERVICE_ROLE must be one of {', '.join(SERVICE_ROLES)}, got {SERVICE_ROLE!r}"
    )
WSGI_APPLICATION = "streamsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's native psycopg 3 pool: connections are reused across requests in a process,
    # so CONN_MAX_AGE must stay 0 (Django refuses both at once).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2, minimum=0),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0, minimum=0.1),
    }
    if (
        DATABASES["default"]["OPTIONS"]["pool"]["min_size"]
        > (DATABASES["default"]["OPTIONS"]["pool"]["max_size"])
    ):
        raise ImproperlyConfigured("DATABASE_POOL_MIN_SIZE must not exceed DATABASE_POOL_MAX_SIZE")
    DATABASES["default"]["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME") or None}
    # An unreachable or stuck database must cost seconds, not minutes: libpq's connect timeout
    # (2 s at least), the server's statement timeout (0: none; e.g. for a long migration), and
    # as long for sent data to go unacknowledged before the connection counts as dead (a
    # network that drops packets, where no statement timeout can fire).
    db_options = DATABASES["default"]["OPTIONS"]
    db_options.setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 2, minimum=2))
    statement_ms = round(env_float("DATABASE_STATEMENT_TIMEOUT", 20.0, minimum=0.0) * 1000)
    if statement_ms:
        db_options["options"] = (
            f"{db_options.get('options', '')} -c statement_timeout={statement_ms}"
        )
        db_options.setdefault("tcp_user_timeout", statement_ms)
USING_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
# django-prometheus's subclasses of the same backends count connections, queries, errors and
# their duration (django_db_*); the psycopg pool above works through them unchanged. On
# PostgreSQL, streamsite.postgresql adds the database's circuit breaker to them.
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.", "django_prometheus.db.backends.", 1
)
if USING_POSTGRES:
    DATABASES["default"]["ENGINE"] = "streamsite.postgresql"
# After this many failed connection attempts in a row, nothing waits for the database: requests
# answer from stale copies or with a 503 at once, and one probes again after the reset time.
DATABASE_CIRCUIT_FAILURE_THRESHOLD = env_int("DATABASE_CIRCUIT_FAILURE_THRESHOLD", 2, minimum=1)
DATABASE_CIRCUIT_RESET_SECONDS = env_float("DATABASE_CIRCUIT_RESET_SECONDS", 5.0, minimum=0.1)

# Read replicas (streamsite/db_router.py): each URL of DATABASE_REPLICA_URLS is an alias
# replica_1, replica_2… Requests read from a replica that answers and is at most
# DATABASE_REPLICA_MAX_LAG seconds behind (measured every DATABASE_REPLICA_CHECK_SECONDS per
# process); writes, transactions, background tasks and a viewer's reads for
# DATABASE_READ_YOUR_WRITES_SECONDS after they wrote use the primary. A replica has the
# primary's pool and timeouts, a short pool wait (a replica that died is left for the primary
# within that), and no circuit breaker: one that is down is skipped, it must not open the
# primary's. In tests a replica is the test database itself (MIRROR).
DATABASE_REPLICA_MAX_LAG = env_float("DATABASE_REPLICA_MAX_LAG", 10.0, minimum=0.0)
DATABASE_REPLICA_CHECK_SECONDS = env_float("DATABASE_REPLICA_CHECK_SECONDS", 2.0, minimum=0.1)
DATABASE_READ_YOUR_WRITES_SECONDS = env_float("DATABASE_READ_YOUR_WRITES_SECONDS", 5.0, minimum=0.0)
for _number, _replica in enumerate(env_database_list("DATABASE_REPLICA_URLS"), start=1):
    if not USING_POSTGRES:
        raise ImproperlyConfigured("DATABASE_REPLICA_URLS needs a postgres:// DATABASE_URL")
    _options = {**DATABASES["default"]["OPTIONS"], **_replica.get("OPTIONS", {})}
    _options["pool"] = {
        **DATABASES["default"]["OPTIONS"]["pool"],
        "timeout": min(1.0, DATABASES["default"]["OPTIONS"]["pool"]["timeout"]),
    }
    DATABASES[f"replica_{_number}"] = {
        **DATABASES["default"],
        **_replica,
        "ENGINE": "django_prometheus.db.backends.postgresql",
        "OPTIONS": _options,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,  # the pool checks a connection before lending it
        "TEST": {"MIRROR": "default"},
    }
if len(DATABASES) > 1:
    DATABASE_ROUTERS = ["streamsite.db_router.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis ------------------------------------------------------------------------

REDIS_URL = env_redis_url("REDIS_URL")

if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis, instrumented by django-prometheus (django_cache_* metrics).
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # Short timeouts: a Redis outage must degrade requests, not hang them.
                "SOCKET_CONNECT_TIMEOUT": env_float("REDIS_CONNECT_TIMEOUT", 0.5, minimum=0.01),
                "SOCKET_TIMEOUT": env_float("REDIS_SOCKET_TIMEOUT", 0.5, minimum=0.01),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache"}}

# Off, every cached() read goes to its loader (to measure the uncached cost, or to debug).
CACHE_ENABLED = env_bool("CACHE_ENABLED", True)
# Seconds an entry stays fresh, per purpose (streamsite.cache.ttl); CACHE_TTL_<PURPOSE> overrides.
# Catalog entries can live long: any Movie/Genre change bumps the namespace version at once.
# "http" is the max-age browsers and CDNs get, short because they cannot see those bumps.
CACHE_TTLS = {
    purpose: env_int(f"CACHE_TTL_{purpose.upper()}", default, minimum=1)
    for purpose, default in {"catalog": 600, "http": 60, "sources": 300}.items()
}
# How long the stale copy outlives the fresh one, to answer while the database is down.
CACHE_STALE_TTL = env_int("CACHE_STALE_TTL", 86_400, minimum=1)
# The per-key loading lock expires after this (a loader killed mid-way cannot wedge a key)...
CACHE_LOCK_TIMEOUT = env_float("CACHE_LOCK_TIMEOUT", 30.0, minimum=0.1)
# ...and other requests wait this long for its result before serving stale or loading too.
CACHE_LOCK_WAIT = env_float("CACHE_LOCK_WAIT", 0.5, minimum=0.0)
# After a Redis error a process leaves that Redis alone this long (0: retry every time): the
# cache, the progress buffer, the shield and the breakers alike (streamsite/outage.py).
CACHE_OUTAGE_COOLDOWN = env_float("CACHE_OUTAGE_COOLDOWN", 2.0, minimum=0.0)
# Seconds a process may answer from its own memory (versions and entries it read) before
# asking Redis again. 0: every read asks Redis, and an edit is seen everywhere at once. Above
# 0, a hit costs no network round trip, and an edit made in another process reaches this one
# after at most that long (the process that made it sees it at once). Production defaults to
# 1 s, the window nginx's micro-cache already allows, which lets a hit cost about what a bare
# view does (bench/catalog.py); development and tests see every edit at once. At most
# CACHE_LOCAL_MAX_ENTRIES entries are kept per process, least recently used dropped first.
CACHE_LOCAL_SECONDS = env_float("CACHE_LOCAL_SECONDS", 1.0 if PRODUCTION else 0.0, minimum=0.0)
CACHE_LOCAL_MAX_ENTRIES = env_int("CACHE_LOCAL_MAX_ENTRIES", 1000, minimum=1)
# Detail pages of the N most popular movies are warmed with home and the first list pages.
CACHE_WARM_TOP_N = env_int("CACHE_WARM_TOP_N", 50, minimum=0)

# --- Auth, i18n, static -----------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Django's ModelBackend, loading the profile (tier) with the user in the same query.
AUTHENTICATION_BACKENDS = ["accounts.backends.ModelBackend"]
# With Redis, a signed-in request reads its session and its user from Redis instead of two
# database queries (accounts/sessions.py, accounts/backends.py); the database stays the record.
# Without Redis (the one-process demo) both come from the database.
# Both keep sessions in accounts' table, which knows whose each one is (the account page lists
# them and signs them out).
SESSION_ENGINE = "accounts.sessions" if REDIS_URL else "accounts.db_sessions"
# How long an API key is cached with its user and profile (accounts/services.py). Revoking the
# key or changing its user or profile drops the copy at once, in every process; each expiry
# costs one query per key.
API_KEY_CACHE_SECONDS = env_float("API_KEY_CACHE_SECONDS", 60.0, minimum=0.0)
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "catalog:home"
LOGOUT_REDIRECT_URL = "catalog:home"

# --- E-mail (password reset) ------------------------------------------------------------------

# Development prints e-mails on the console; production sends them through the SMTP server
# these name.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0, minimum=0.1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "StreamSite <no-reply@localhost>")
# Password reset links work this long (seconds): long enough to open the mail, short enough
# that an old mailbox is no key to the account.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 3600, minimum=60)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Outside production WhiteNoise also serves static files straight from the apps and static/,
# so `make run` needs no collectstatic (with DEBUG=true it notices edits too).
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
# Uploaded artwork (poster files). nginx serves /media/ in production; where no nginx is in
# front (`make run`), Django does.
MEDIA_SERVED_BY_DJANGO = env_bool("MEDIA_SERVED_BY_DJANGO", not PRODUCTION)

# --- REST API -------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # `Authorization: Api-Key <key>` first: an explicit credential wins over a cookie.
        "accounts.authentication.ApiKeyAuthentication",
        # Enforces CSRF on writes, since the browser sends the cookie by itself.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "EXCEPTION_HANDLER": "streamsite.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "StreamSite API",
    "DESCRIPTION": "Catalog, streaming sources and watch progress of a StreamSite instance.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the sidecar package: the docs page works with no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # After drf-spectacular's own: the errors any operation may answer (streamsite/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "streamsite.openapi.document_errors",
    ],
}

# --- Shield: client IP, rate limits, DDoS protection (shield/) ------------------------------

# CIDRs of our own proxies (nginx, load balancers): only their X-Forwarded-For is believed.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# Rate limiting and DDoS protection; off only to measure their cost (bench/shield.py).
SHIELD_ENABLED = env_bool("SHIELD_ENABLED", True)
SHIELD_REDIS_URL = env_redis_url("SHIELD_REDIS_URL") or REDIS_URL
# Redis answers in well under a millisecond; longer than this means down: fail open. Not
# lower: a busy host can stall a healthy Redis for a few hundred milliseconds.
SHIELD_REDIS_TIMEOUT = env_float("SHIELD_REDIS_TIMEOUT", 0.5, minimum=0.01)
# Sliding windows in `limits` notation: "60/minute", "10/2seconds".
RATELIMITS = {
    "anonymous": env_str("RATELIMIT_ANONYMOUS", "60/minute"),
    "free": env_str("RATELIMIT_FREE", "120/minute"),
    "premium": env_str("RATELIMIT_PREMIUM", "600/minute"),
    "api": env_str("RATELIMIT_API", "1200/minute"),
    # Player heartbeats every 10 s (6 a minute) plus pause/seek/end/page-hide events and the
    # replay of an offline queue: 20x the heartbeat rate, still capping a runaway tab at 2/s.
    "progress": env_str("RATELIMIT_PROGRESS", "120/minute"),
    "login_ip": env_str("RATELIMIT_LOGIN_IP", "10/minute"),
    "login_username": env_str("RATELIMIT_LOGIN_USERNAME", "5/minute"),
    "signup_ip": env_str("RATELIMIT_SIGNUP_IP", "10/hour"),
    "signup_username": env_str("RATELIMIT_SIGNUP_USERNAME", "5/minute"),
}
# DDoS signals per client IP: going over any one blocks the address.
SHIELD_SIGNALS = {
    # 60 requests a second for 10 s: far above a person opening image-heavy pages.
    "request_rate": env_str("SHIELD_REQUEST_RATE", "600/10seconds"),
    "error_rate": env_str("SHIELD_ERROR_RATE", "60/30seconds"),
    "missing_paths": env_str("SHIELD_MISSING_PATHS", "20/minute"),
    "failed_logins": env_str("SHIELD_FAILED_LOGINS", "10/5minutes"),
}
SHIELD_ALLOWLIST = env_networks("SHIELD_ALLOWLIST")
try:
    SHIELD_BLOCK_DURATIONS = [
        int(v) for v in env_list("SHIELD_BLOCK_DURATIONS", ["60", "600", "3600"])
    ]
except ValueError:
    SHIELD_BLOCK_DURATIONS = []
if not SHIELD_BLOCK_DURATIONS or min(SHIELD_BLOCK_DURATIONS) < 1:
    raise ImproperlyConfigured(
        "SHIELD_BLOCK_DURATIONS must be comma-separated whole seconds, e.g. 60,600,3600"
    )
# A repeat offence within this time gets the next, longer block duration.
SHIELD_OFFENCE_MEMORY_SECONDS = env_int("SHIELD_OFFENCE_MEMORY_SECONDS", 86_400, minimum=1)
SHIELD_BLOCK_CACHE_SECONDS = env_float("SHIELD_BLOCK_CACHE_SECONDS", 2.0, minimum=0.0)
# Each process reports a client's requests to Redis (and learns of its block) at least this
# often, or every SHIELD_COUNT_BATCH requests: one round trip per batch instead of per request.
SHIELD_CHECK_SECONDS = env_float("SHIELD_CHECK_SECONDS", 1.0, minimum=0.0)
SHIELD_COUNT_BATCH = env_int("SHIELD_COUNT_BATCH", 10, minimum=1)
# How long a process reuses the frame origins of player pages (@frames_players, shield/csp).
CSP_PROVIDER_CACHE_SECONDS = env_float("CSP_PROVIDER_CACHE_SECONDS", 30.0, minimum=0.0)

# --- Health (streamsite/health.py) ----------------------------------------------------------

HEALTH_CACHE_SECONDS = env_float("HEALTH_CACHE_SECONDS", 1.0, minimum=0.0)
HEALTH_TIMEOUT_SECONDS = env_float("HEALTH_TIMEOUT_SECONDS", 0.5, minimum=0.01)
HEALTH_DISK_DEGRADED_PERCENT = env_float("HEALTH_DISK_DEGRADED_PERCENT", 10.0, minimum=0.0)
HEALTH_DISK_FAIL_PERCENT = env_float("HEALTH_DISK_FAIL_PERCENT", 2.0, minimum=0.0)
HEALTH_MEMORY_DEGRADED_PERCENT = env_float("HEALTH_MEMORY_DEGRADED_PERCENT", 5.0, minimum=0.0)

# --- Catalog --------------------------------------------------------------------------------

TMDB_API_KEY = env_str("TMDB_API_KEY")
TMDB_READ_TOKEN = env_str("TMDB_READ_TOKEN")
TMDB_API_URL = env_str("TMDB_API_URL", "https://api.themoviedb.org/3")
TMDB_IMAGE_URL = env_str("TMDB_IMAGE_URL", "https://image.tmdb.org/t/p")
TMDB_TIMEOUT = env_float("TMDB_TIMEOUT", 10.0, minimum=0.1)

# --- Outbound HTTP resilience (streamsite/resilience.py) ------------------------------------

# Connect timeout slightly above a multiple of 3 s, the usual TCP retransmission window.
OUTBOUND_CONNECT_TIMEOUT = env_float("OUTBOUND_CONNECT_TIMEOUT", 3.05, minimum=0.001)
OUTBOUND_READ_TIMEOUT = env_float("OUTBOUND_READ_TIMEOUT", 10.0, minimum=0.001)
OUTBOUND_MAX_ATTEMPTS = env_int("OUTBOUND_MAX_ATTEMPTS", 3, minimum=1)
OUTBOUND_BACKOFF_BASE = env_float("OUTBOUND_BACKOFF_BASE", 0.25, minimum=0.0)
OUTBOUND_BACKOFF_CAP = env_float("OUTBOUND_BACKOFF_CAP", 4.0, minimum=0.0)
# Longest wait a 429/503 Retry-After may impose, so a confused server cannot park a worker.
OUTBOUND_RETRY_AFTER_CAP = env_float("OUTBOUND_RETRY_AFTER_CAP", 10.0, minimum=0.0)
OUTBOUND_POOL_SIZE = env_int("OUTBOUND_POOL_SIZE", 20, minimum=1)
CIRCUIT_BREAKERS_ENABLED = env_bool("CIRCUIT_BREAKERS_ENABLED", True)
CIRCUIT_FAILURE_THRESHOLD = env_int("CIRCUIT_FAILURE_THRESHOLD", 5, minimum=1)
CIRCUIT_RESET_SECONDS = env_float("CIRCUIT_RESET_SECONDS", 30.0, minimum=0.001)
# How long one half-open probe holds its slot before another caller may probe, so a worker
# killed mid-probe cannot wedge a circuit; longer than a call with all its retries.
CIRCUIT_PROBE_SECONDS = env_float("CIRCUIT_PROBE_SECONDS", 60.0, minimum=0.001)

# --- Streaming sources (streaming/) ---------------------------------------------------------

# Cached source lists live CACHE_TTLS["sources"] (env CACHE_TTL_SOURCES); circuit state is read
# live. Off: the health probe alone keeps circuits current and no viewer request waits on a
# provider. On: the first playable provider is also checked on each request, which costs a
# round trip to it (and, with breakers off, its full timeout while it hangs).
SOURCES_LIVE_CHECK = env_bool("SOURCES_LIVE_CHECK", False)
# The watch page moves to the next server when a player has not loaded within this time.
WATCH_SOURCE_TIMEOUT = env_float("WATCH_SOURCE_TIMEOUT", 8.0, minimum=0.5)

# --- Watch progress (progress/) -------------------------------------------------------------

# Heartbeats go to a Redis write-behind buffer (when the cache is Redis) and are flushed to the
# database in bulk. False writes every heartbeat straight to the database (bench/progress.py
# measures both), as does having no Redis at all.
PROGRESS_BUFFER_ENABLED = env_bool("PROGRESS_BUFFER_ENABLED", True)
# How often the beat flush runs: how stale the database may be, and how many heartbeats a row
# absorbs (a viewer sends 3 in 30 s, so each flush writes one row instead of three).
PROGRESS_FLUSH_SECONDS = env_float("PROGRESS_FLUSH_SECONDS", 30.0, minimum=0.1)
# Rows per bulk upsert: ~7 parameters each, far below PostgreSQL's and SQLite's limits.
PROGRESS_FLUSH_BATCH_SIZE = env_int("PROGRESS_FLUSH_BATCH_SIZE", 500, minimum=1)
# A claimed batch not acknowledged within this time is taken again by the next flush (its
# flusher died). Far longer than one batch takes; correctness does not depend on it.
PROGRESS_FLUSH_LEASE_SECONDS = env_float("PROGRESS_FLUSH_LEASE_SECONDS", 120.0, minimum=0.001)
PROGRESS_FLUSH_MAX_ATTEMPTS = env_int("PROGRESS_FLUSH_MAX_ATTEMPTS", 5, minimum=1)
PROGRESS_FLUSH_BACKOFF_BASE = env_float("PROGRESS_FLUSH_BACKOFF_BASE", 0.5, minimum=0.0)
PROGRESS_FLUSH_BACKOFF_CAP = env_float("PROGRESS_FLUSH_BACKOFF_CAP", 8.0, minimum=0.0)
# Rules: less than this watched leaves no resume point...
PROGRESS_MIN_RESUME_SECONDS = env_float("PROGRESS_MIN_RESUME_SECONDS", 30.0, minimum=0.0)
# ...and this share watched, or being within the last minutes, counts as finished.
PROGRESS_COMPLETE_PERCENT = env_float("PROGRESS_COMPLETE_PERCENT", 90.0, minimum=1.0)
PROGRESS_COMPLETE_REMAINING_SECONDS = env_float(
    "PROGRESS_COMPLETE_REMAINING_SECONDS", 120.0, minimum=0.0
)
PROGRESS_CONTINUE_WATCHING_LIMIT = env_int("PROGRESS_CONTINUE_WATCHING_LIMIT", 20, minimum=1)
# How long the playback token the watch page gives the player stays good (progress/tokens.py).
# Longer than any film with a pause or two; past it the player's session cookie takes over.
PROGRESS_TOKEN_MAX_AGE = env_int("PROGRESS_TOKEN_MAX_AGE", 6 * 3600, minimum=60)

# --- Self-hosted video (videos/) -------------------------------------------------------------

# Uploaded sources and the HLS renditions made from them. Both stay outside MEDIA_ROOT: nothing
# here is public; renditions go out only behind signed URLs (nginx secure_link, or Django when
# HLS_SERVED_BY_DJANGO).
VIDEO_ROOT = Path(env_str("VIDEO_ROOT", str(BASE_DIR / "var" / "videos")))
VIDEO_SOURCE_ROOT = VIDEO_ROOT / "sources"
HLS_ROOT = VIDEO_ROOT / "hls"
# The largest source an editor may upload; nginx's client_max_body_size in deploy/ matches.
VIDEO_UPLOAD_MAX_BYTES = env_int("VIDEO_UPLOAD_MAX_BYTES", 8 * 1024**3, minimum=1)
# Empty: `ffmpeg` on PATH, else the binary of the imageio-ffmpeg wheel (no ffprobe is needed).
FFMPEG_BINARY = env_str("FFMPEG_BINARY")
# Rung heights, tallest first; rungs above the source's height are never made.
try:
    VIDEO_LADDER = sorted(
        {int(h) for h in env_list("VIDEO_LADDER", ["1080", "720", "480", "360"])}, reverse=True
    )
except ValueError:
    VIDEO_LADDER = []
if not VIDEO_LADDER or min(VIDEO_LADDER) < 144:
    raise ImproperlyConfigured("VIDEO_LADDER must be comma-separated heights of 144 or more")
# x264's speed/size trade-off: "veryfast" transcodes a 1080p film several times faster than
# real time on a small server at a bitrate cost viewers do not see at these rates.
VIDEO_X264_PRESET = env_str("VIDEO_X264_PRESET", "veryfast")
# A keyframe every 2 s in every rung, so players can switch rungs at any 2 s boundary, and
# segments of two of them: short enough for a quick start, long enough to keep requests few.
VIDEO_KEYFRAME_SECONDS = 2
VIDEO_SEGMENT_SECONDS = env_int("VIDEO_SEGMENT_SECONDS", 4, minimum=VIDEO_KEYFRAME_SECONDS)
if VIDEO_SEGMENT_SECONDS % VIDEO_KEYFRAME_SECONDS or VIDEO_SEGMENT_SECONDS > 6:
    raise ImproperlyConfigured("VIDEO_SEGMENT_SECONDS must be 2, 4 or 6")
# A transcode that has not reported progress for this long is taken to be dead (its worker
# was killed): the sweeper queues it again, and another attempt may take its lock.
VIDEO_STALL_SECONDS = env_float("VIDEO_STALL_SECONDS", 120.0, minimum=1.0)
# The key nginx's secure_link_md5 shares with us (deploy/nginx). Development derives one from
# SECRET_KEY; production must set it, since nginx needs the same value.
HLS_SIGNING_KEY = env_str("HLS_SIGNING_KEY")
if not HLS_SIGNING_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("HLS_SIGNING_KEY must be set when STREAMSITE_ENV=production")
    HLS_SIGNING_KEY = "development-hls-key-" + re.sub(r"[^A-Za-z0-9]", "", SECRET_KEY)[-16:]
# It is written into nginx's configuration, where "$" or a quote would change its meaning.
if not re.fullmatch(r"[A-Za-z0-9_-]{16,}", HLS_SIGNING_KEY):
    raise ImproperlyConfigured(
        "HLS_SIGNING_KEY must be 16 or more letters, digits, '-' or '_' "
        '(python -c "import secrets; print(secrets.token_urlsafe(32))")'
    )
# Signed HLS URLs expire on a bucket boundary at least HLS_URL_LIFETIME ahead, so every viewer
# in a bucket gets the same URLs and a CDN caches each segment once. At least as long as a
# playback token: a film paused for hours must still play on.
HLS_URL_BUCKET = env_int("HLS_URL_BUCKET", 3600, minimum=1)
HLS_URL_LIFETIME = env_int("HLS_URL_LIFETIME", PROGRESS_TOKEN_MAX_AGE, minimum=1)
if HLS_URL_LIFETIME < PROGRESS_TOKEN_MAX_AGE:
    raise ImproperlyConfigured("HLS_URL_LIFETIME must be at least PROGRESS_TOKEN_MAX_AGE")
# Where no nginx is in front (`make run`), Django serves /hls/ with the same signature check.
HLS_SERVED_BY_DJANGO = env_bool("HLS_SERVED_BY_DJANGO", not PRODUCTION)

# --- CDN (cdn/) -----------------------------------------------------------------------------

# Who sits in front of the site and can be told to forget: "none" (nobody we can purge),
# "cloudflare", or "nginx" (our own edge: deploy/nginx/edge, with the cache-purge module).
CDN_PROVIDERS = ("none", "cloudflare", "nginx")
CDN_PROVIDER = env_str("CDN_PROVIDER", "none").lower()
if CDN_PROVIDER not in CDN_PROVIDERS:
    raise ImproperlyConfigured(
        f"CDN_PROVIDER must be one of {', '.join(CDN_PROVIDERS)}, got {CDN_PROVIDER!r}"
    )
# The public origin of the edge (https://cdn.example.org): static files, uploaded artwork,
# HLS files and the resized images are addressed there. Empty: our own origin, relative URLs.
CDN_BASE_URL = env_origin("CDN_BASE_URL")
CLOUDFLARE_ZONE_ID = env_str("CLOUDFLARE_ZONE_ID")
CLOUDFLARE_API_TOKEN = env_str("CLOUDFLARE_API_TOKEN")
CLOUDFLARE_API_URL = env_str("CLOUDFLARE_API_URL", "https://api.cloudflare.com/client/v4")
# Cloudflare's purge budget is per account and plan, a token bucket: the free plan's is 5
# requests a minute with a burst of 25 (Pro: 5 a second). At most 100 URLs or tags a request.
CLOUDFLARE_PURGE_PER_MINUTE = env_float("CLOUDFLARE_PURGE_PER_MINUTE", 5.0, minimum=0.01)
CLOUDFLARE_PURGE_BURST = env_int("CLOUDFLARE_PURGE_BURST", 25, minimum=1)
# The self-hosted edge's purge listener (never public): http://edge:8081.
CDN_NGINX_PURGE_URL = env_origin("CDN_NGINX_PURGE_URL")
CDN_PURGE_BATCH_SIZE = env_int("CDN_PURGE_BATCH_SIZE", 100, minimum=1)
if CDN_PROVIDER == "none":
    for name in ("CLOUDFLARE_ZONE_ID", "CLOUDFLARE_API_TOKEN", "CDN_NGINX_PURGE_URL"):
        if globals()[name]:
            raise ImproperlyConfigured(
                f"{name} is set but CDN_PROVIDER is 'none'; set CDN_PROVIDER"
            )
elif not CDN_BASE_URL:
    raise ImproperlyConfigured(f"CDN_BASE_URL must be set when CDN_PROVIDER={CDN_PROVIDER}")
if CDN_PROVIDER == "cloudflare":
    if not re.fullmatch(r"[0-9a-f]{32}", CLOUDFLARE_ZONE_ID):
        raise ImproperlyConfigured(
            "CLOUDFLARE_ZONE_ID must be the zone's 32-character id (the zone's Overview page) "
            "when CDN_PROVIDER=cloudflare"
        )
    if not CLOUDFLARE_API_TOKEN:
        raise ImproperlyConfigured(
            "CLOUDFLARE_API_TOKEN must be set when CDN_PROVIDER=cloudflare "
            "(a token with the zone's Cache Purge permission)"
        )
    if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", CLOUDFLARE_API_URL):
        raise ImproperlyConfigured(
            f"CLOUDFLARE_API_URL must be an http(s) URL, got {CLOUDFLARE_API_URL!r}"
        )
    if CDN_PURGE_BATCH_SIZE > 100:
        raise ImproperlyConfigured("CDN_PURGE_BATCH_SIZE must be at most 100 with Cloudflare")
if CDN_PROVIDER == "nginx":
    if not CDN_NGINX_PURGE_URL:
        raise ImproperlyConfigured("CDN_NGINX_PURGE_URL must be set when CDN_PROVIDER=nginx")
    if not REDIS_URL:
        # The edge purges exact URLs; which URLs carry a tag is kept in Redis for every process.
        raise ImproperlyConfigured("CDN_PROVIDER=nginx needs REDIS_URL (the tag to URL map)")
CDN_PURGES = CDN_PROVIDER != "none"
# How long the edge keeps an anonymous page or catalog answer (s-maxage). With a provider to
# purge, an edit reaches the edge through the purge, so the edge can keep answers a day;
# without one nothing would tell it, so it keeps them as long as browsers do.
CDN_S_MAXAGE = env_int("CDN_S_MAXAGE", 86_400 if CDN_PURGES else CACHE_TTLS["http"], minimum=0)
# A purge waits this long after the commit: until every process has let go of the old catalog
# version (CACHE_LOCAL_SECONDS) and the gateway's one-second micro-cache behind the edge has too
# (deploy/nginx); a purge sooner could let the edge fetch the old answer again and keep it for
# CDN_S_MAXAGE. An edge straight in front of gunicorn needs only CACHE_LOCAL_SECONDS.
CDN_PURGE_DELAY = env_float("CDN_PURGE_DELAY", CACHE_LOCAL_SECONDS + 1.0, minimum=0.0)
# A purge the provider refused is tried again after a backoff with full jitter up to this.
CDN_PURGE_BACKOFF_BASE = env_float("CDN_PURGE_BACKOFF_BASE", 2.0, minimum=0.0)
CDN_PURGE_BACKOFF_CAP = env_float("CDN_PURGE_BACKOFF_CAP", 300.0, minimum=0.0)
# Widths an image may be resized to, the only ones (any other width is a 404: nobody can make
# the edge store a thousand sizes of one poster), and the quality of the resized copies.
CDN_IMAGE_WIDTHS = (92, 154, 185, 342, 500, 780, 1280, 1920)
CDN_IMAGE_QUALITY = env_int("CDN_IMAGE_QUALITY", 82, minimum=1)
if CDN_IMAGE_QUALITY > 100:
    raise ImproperlyConfigured("CDN_IMAGE_QUALITY must be at most 100")
# Posters and backdrops editors upload in the admin: refused above this size.
ARTWORK_UPLOAD_MAX_BYTES = env_int("ARTWORK_UPLOAD_MAX_BYTES", 10 * 1024**2, minimum=1024)
# Uploaded artwork and static files say where they are through their storage's url(): the
# edge's origin when CDN_BASE_URL is set (cdn/storage.py).
STORAGES = {
    "default": {"BACKEND": "cdn.storage.MediaStorage"},
    "staticfiles": {"BACKEND": "cdn.storage.StaticStorage"},
}

# --- Celery ---------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# Without a broker the demo stays one process: tasks run inline in the caller.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE

# --- Monitoring -----------------------------------------------------------------------------

# /metrics answers scrapers from these networks, or anyone with `Authorization: Bearer <token>`.
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])
METRICS_TOKEN = env_str("METRICS_TOKEN")
# A Celery worker or beat has no web server: it serves its metrics (task outcomes and durations,
# the progress flush, provider probes) on this address and port, to the same clients (0: not at
# all; streamsite/celery_metrics.py). The compose file scrapes worker:9808 and beat:9808.
METRICS_ADDRESS = env_str("METRICS_ADDRESS") or "127.0.0.1"
METRICS_PORT = env_int("METRICS_PORT", 0, minimum=0)

# --- Benchmarks -----------------------------------------------------------------------------

# Mounts /bench/bare, the baseline view bench/ scripts compare against. Never in production.
BENCH_ENDPOINTS = env_bool("BENCH_ENDPOINTS", False)

# --- Logging --------------------------------------------------------------------------------

# Debug pages and error reports also hide connection URLs, which may carry passwords.
DEFAULT_EXCEPTION_REPORTER_FILTER = "streamsite.errors.ExceptionReporterFilter"

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line names the request it belongs to (streamsite/request_id.py; "-" outside one).
    "filters": {"request_id": {"()": "streamsite.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}

# --- Production hardening -------------------------------------------------------------------

if PRODUCTION:
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when STREAMSITE_ENV=production")
    # nginx terminates TLS and sets X-Forwarded-Proto (overwriting any client value).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe health and Prometheus scrapes metrics over plain HTTP inside the
    # network; a redirect is no answer. /metrics guards itself (allowed networks or a token).
    SECURE_REDIRECT_EXEMPT = [r"^api/health", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
