"""Settings shared by every environment; everything comes from environment variables.

Defaults run on a laptop with nothing installed: SQLite (WAL, IMMEDIATE transactions) and a Celery
broker that keeps its queue in files. DATABASE_URL and CELERY_BROKER_URL switch to the real services.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from kit.telemetry.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(str(BASE_DIR / ".env"))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me-in-production-0123456789")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    # django.contrib.admin, with the back office site (dashboard) as `admin.site`.
    "backoffice.apps.BackOfficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "kit",
    "loyalty",
    "offers",
    "rewards",
    "webhooks",
    "backoffice",  # last: it uses every app above (dashboard, member overview, seed_demo)
]

MIDDLEWARE = [
    # Outermost: the request id, metrics and access log cover every answer, the other middlewares' too.
    "kit.telemetry.middleware.TelemetryMiddleware",
    "kit.api.body.RequestBodyMiddleware",  # next: sees every response of the stack below, early refusals included
    "django.middleware.security.SecurityMiddleware",
    # Django's sessions, CSRF, user and messages, skipped on the API's paths (API_PATH_PREFIXES), which
    # authenticate by headers and never read them (kit.api.browser_only); the admin keeps all four.
    "kit.api.browser_only.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "kit.api.browser_only.CsrfViewMiddleware",
    "kit.api.browser_only.AuthenticationMiddleware",
    "kit.api.browser_only.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# The paths of the API (config/urls.py): token-authenticated, no session, no cookie.
API_PATH_PREFIXES = ("/v1/", "/v3/")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# --- Database -------------------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'loyalty.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE makes every transaction take the write lock up front, so concurrent writers queue
    # (up to `timeout` seconds) instead of failing with "database is locked" on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    # DATABASE_POOLER says what sits between us and PostgreSQL (docs/operations.md). Empty: PostgreSQL itself
    # (or a pooler that passes startup options through). A PgBouncer refuses startup options (1.18: `options`,
    # later ones: `jit`), so behind one the server settings below must be database settings instead (the
    # `migrate` command sets jit=off on the database, kit.db.server_settings); in transaction mode a session
    # is shared by many clients, so nothing may be prepared on it unless PgBouncer tracks prepared statements.
    DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
    if DATABASE_POOLER not in ("", "pgbouncer-session", "pgbouncer-transaction"):
        raise ImproperlyConfigured(
            f"DATABASE_POOLER must be empty, pgbouncer-session or pgbouncer-transaction, not {DATABASE_POOLER!r}"
        )
    transaction_pooler = DATABASE_POOLER == "pgbouncer-transaction"
    # Read by kit.db.postgresql (and removed before the connection parameters reach libpq).
    _db_options["pooler"] = DATABASE_POOLER
    # DATABASE_PLAN_CACHE_MODE, when set, is the session's plan_cache_mode: how PostgreSQL plans the prepared
    # statements below. Unset, the server's own setting stands (`auto` unless a DBA chose otherwise): one
    # generic plan per statement once it costs no more than fresh ones, replanned when ANALYZE changes the
    # statistics or the connection is replaced; check loyalty.W001 warns when autovacuum cannot do that.
    # `force_custom_plan` plans every execution with its values: no stale plan, more database CPU.
    plan_cache_mode = env.str("DATABASE_PLAN_CACHE_MODE", default="")
    if plan_cache_mode not in ("", "auto", "force_custom_plan", "force_generic_plan"):
        raise ImproperlyConfigured(
            f"DATABASE_PLAN_CACHE_MODE must be auto, force_custom_plan or force_generic_plan, not {plan_cache_mode!r}"
        )
    if not DATABASE_POOLER:
        # JIT off: the offer list's annotations push the planner's cost estimates over the JIT threshold, and
        # compiling then costs 100-250 ms per query to save microseconds (an OLTP workload never gains from it).
        _db_options["options"] = "-c jit=off"
        if plan_cache_mode:
            _db_options["options"] += f" -c plan_cache_mode={plan_cache_mode}"
    elif plan_cache_mode:
        # A pooler drops (or refuses) startup options: the setting would silently not apply.
        raise ImproperlyConfigured(
            "DATABASE_PLAN_CACHE_MODE cannot reach PostgreSQL through a pooler (it refuses startup options): "
            f"run ALTER ROLE … SET plan_cache_mode = {plan_cache_mode} instead, and leave the variable unset"
        )
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The same backend, with a health check that looks at the socket instead of running `SELECT 1`, and
        # the pooler checks above.
        DATABASES["default"]["ENGINE"] = "kit.db.postgresql"
    # Server-side binding: parameters travel apart from the SQL, and a statement run 5 times on a connection
    # becomes a prepared statement, parsed and planned once (planning was half of PostgreSQL's time per request
    # in the mixed benchmark). Behind a transaction pooler both are off by default: a prepared statement lives
    # in a server session that the next transaction may not get (PgBouncer 1.18: "prepared statement
    # "_pg3_N" does not exist", or worse, another client's statement run with our parameters).
    # DATABASE_PREPARE_THRESHOLD=none keeps server-side binding with unnamed statements only, which every
    # pooler mode handles.
    server_side_binding = env.bool("DATABASE_SERVER_SIDE_BINDING", default=not transaction_pooler)
    threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="none" if transaction_pooler else "5").strip()
    if threshold.lower() in ("", "none", "off"):
        prepare_threshold = None
    elif threshold.isdigit():
        prepare_threshold = int(threshold)
    else:
        raise ImproperlyConfigured(f"DATABASE_PREPARE_THRESHOLD must be a number or none, not {threshold!r}")
    # PgBouncer 1.21 and later keeps prepared statements apart per client when `max_prepared_statements` is
    # set; only the operator knows whether it is, so it is declared rather than guessed.
    pooler_prepares = env.bool("DATABASE_POOLER_PREPARED_STATEMENTS", default=False)
    if server_side_binding and prepare_threshold is not None and transaction_pooler and not pooler_prepares:
        raise ImproperlyConfigured(
            "DATABASE_PREPARE_THRESHOLD prepares statements, which a transaction pooler hands to other clients: "
            "set DATABASE_PREPARE_THRESHOLD=none, or DATABASE_POOLER_PREPARED_STATEMENTS=true for PgBouncer "
            ">= 1.21 with max_prepared_statements > 0"
        )
    if server_side_binding:
        _db_options["server_side_binding"] = True
        _db_options["prepare_threshold"] = prepare_threshold

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- I18n / time ----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = env("MEDIA_URL", default="/media/")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Uploaded media go through Django's storage API (offers/images.py: uploads, and the worker that reads
# them to make the sizes). `filesystem` keeps them in MEDIA_ROOT, which then has to be one shared disk
# for every API node and worker; `s3` keeps them in an S3-compatible bucket that every host reaches
# (django-storages). With s3, PUBLIC_BASE_URL + MEDIA_URL must be the bucket's (or its CDN's) public URL.
MEDIA_STORAGE = env.str("MEDIA_STORAGE", default="filesystem")
if MEDIA_STORAGE == "filesystem":
    _media_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif MEDIA_STORAGE == "s3":
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("MEDIA_S3_BUCKET"),
            "endpoint_url": env.str("MEDIA_S3_ENDPOINT_URL", default="") or None,  # MinIO, Ceph, R2, …
            "region_name": env.str("MEDIA_S3_REGION", default="") or None,
            "access_key": env.str("MEDIA_S3_ACCESS_KEY_ID", default="") or None,  # else boto3's own chain
            "secret_key": env.str("MEDIA_S3_SECRET_ACCESS_KEY", default="") or None,
            "location": env.str("MEDIA_S3_PREFIX", default=""),
            # Names are unique already (a random prefix per upload); never overwrite someone's object.
            "file_overwrite": False,
            # Public, stable URLs built by the API (PUBLIC_BASE_URL + MEDIA_URL + name), not signed ones.
            "querystring_auth": False,
            "default_acl": None,
        },
    }
else:
    raise ImproperlyConfigured(f"MEDIA_STORAGE must be filesystem or s3, not {MEDIA_STORAGE!r}")
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Absolute base used when the API lists file URLs (e.g. offer images).
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# --- Request limits -------------------------------------------------------------------------------
# Bodies above 1 MiB are refused with 413 by the API's JSON parser.
API_MAX_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- REST framework -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["kit.api.renderers.ContractJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["kit.api.parsers.ContractJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "kit.api.exceptions.contract_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "kit.api.schema.ContractAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "kit.api.negotiation.JSONOnlyNegotiation",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty backend API",
    "DESCRIPTION": (
        "Loyalty clubs, members, offers, points ledger and rewards. Compatible with the MPC loyalty API v3. "
        "Every request sends `X-Client-Authorization`, `X-User-Agent` and `X-Product-Name`; member "
        "(`/me/`) endpoints also send `Authorization: Bearer <access_token>`. Each operation names the "
        "permit its client token needs. Every `/v3/{lc}/…` operation also answers below the published "
        "API's legacy prefix `/v3/loyalty_clubs/{lc}/…` (same permits, same answers; not listed again here)."
    ),
    "PREPROCESSING_HOOKS": ["kit.api.schema_hooks.exclude_legacy_prefix"],
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets used by several components need a name of their own (else spectacular hashes one).
    "ENUM_NAME_OVERRIDES": {
        "OfferTypeEnum": "offers.models.OfferType.values",
        "OfferPeriodicTimespanEnum": "offers.models.Timespan.values",
        "MembersChangeEnum": "webhooks.api.subscription_views.CHANGES",
        "WebhookEventEnum": "webhooks.services.EVENT_TYPES",
    },
    "DISABLE_ERRORS_AND_WARNINGS": False,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "clientToken": {"type": "apiKey", "in": "header", "name": "X-Client-Authorization"},
            "memberBearer": {"type": "http", "scheme": "bearer", "description": "Member OAuth access token"},
        }
    },
}

# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: the queue is a folder, so a laptop needs no Redis/RabbitMQ. Producers and the
    # worker share the same folder for both directions.
    _queue_dir = VAR_DIR / "celery" / "queue"
    _done_dir = VAR_DIR / "celery" / "processed"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    _done_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_done_dir),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis redelivers a message nobody acknowledged after this many seconds (a worker died mid-task).
    # Longer than any task runs (long jobs stop themselves after SCHEDULED_JOB_TIME_BUDGET_SECONDS).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Scheduled jobs (SPEC §8, docs/operations.md) ------------------------------------------------------
# A long job (points expiration, birthday grants, expiry warnings) works for at most this long per task,
# then enqueues its own continuation: every task stays well inside the Celery time limits.
SCHEDULED_JOB_TIME_BUDGET_SECONDS = env.int("SCHEDULED_JOB_TIME_BUDGET_SECONDS", default=240)
# A running job renews its lease after every batch; a worker that died leaves the lease to expire after
# this long, then the next run (beat, or the redelivered message) takes over and finishes the work.
SCHEDULED_JOB_LEASE_SECONDS = env.int("SCHEDULED_JOB_LEASE_SECONDS", default=120)
# Every worker looks this often for runs that lost their worker (no live lease) and enqueues their job again
# (kit.jobs.jobs_resume_lost): lost work resumes within LEASE + SWEEP seconds of its last heartbeat. 0: off.
SCHEDULED_JOB_SWEEP_SECONDS = env.float("SCHEDULED_JOB_SWEEP_SECONDS", default=30)
POINTS_EXPIRATION_BATCH_SIZE = env.int("POINTS_EXPIRATION_BATCH_SIZE", default=500)
# `points.expiring` warns about points expiring within this many days.
POINTS_EXPIRING_WARNING_DAYS = env.int("POINTS_EXPIRING_WARNING_DAYS", default=30)
# A birthday grant is usable from the birthday until the end of this many days (club's time zone).
BIRTHDAY_GRANT_USABLE_DAYS = env.int("BIRTHDAY_GRANT_USABLE_DAYS", default=30)

# --- Logging and metrics (docs/operations.md "Observability") -----------------------------------------
# LOG_FORMAT=json: one JSON object per line (the production default), `plain` for a terminal. Every line
# carries the request id (the X-Request-Id of the request, inherited by the tasks it enqueued).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env("LOG_LEVEL", default="INFO"))
# GET /metrics asks for `Authorization: Bearer <METRICS_TOKEN>` when this is set; empty, it is open, for a
# scraper on the internal network (keep /metrics off the public load balancer then).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Loyalty --------------------------------------------------------------------------------------
# Optional per-client-token rate limit (requests per minute); 0 disables it. Counted in the cache named by
# API_RATE_LIMIT_CACHE: per process with the default in-memory cache, shared with CACHE_URL=redis://…
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=0)
API_RATE_LIMIT_CACHE = env("API_RATE_LIMIT_CACHE", default="default")
# How long each worker keeps a client token and a club it looked up (loyalty.api.auth_cache); saves and
# deletes clear it at once in the writing process, others follow within this many seconds. 0: off.
API_AUTH_CACHE_SECONDS = env.float("API_AUTH_CACHE_SECONDS", default=2.0)
# How many rendered offer contents each worker keeps (offers/api/content.py: exact, per content revision;
# PostgreSQL only). One entry per (offer, request languages), about 3-5 kB each: the default covers a club's
# live offers in a language or two; raise it for bigger catalogues (memory per worker). 0: off.
OFFERS_CONTENT_CACHE_ENTRIES = env.int("OFFERS_CONTENT_CACHE_ENTRIES", default=500)
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- Offers management (SPEC §5) ------------------------------------------------------------------
# POST offers/grant grants groups of at most this many members during the request; larger ones in a Celery
# task, in chunks of OFFERS_AUDIENCE_GRANT_CHUNK_SIZE members (one short transaction each).
OFFERS_AUDIENCE_GRANT_INLINE_LIMIT = env.int("OFFERS_AUDIENCE_GRANT_INLINE_LIMIT", default=100)
OFFERS_AUDIENCE_GRANT_CHUNK_SIZE = env.int("OFFERS_AUDIENCE_GRANT_CHUNK_SIZE", default=1000)

# --- Idempotency keys (SPEC §10.1) ----------------------------------------------------------------
# How long a stored first response is replayed (at least 24 h), and after how long an unfinished request
# (its process died) no longer blocks a retry with the same key.
IDEMPOTENCY_KEY_TTL_SECONDS = max(env.int("IDEMPOTENCY_KEY_TTL_SECONDS", default=86400), 86400)
IDEMPOTENCY_LEASE_SECONDS = env.int("IDEMPOTENCY_LEASE_SECONDS", default=300)

# --- Webhooks (SPEC §10.2) ------------------------------------------------------------------------
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Deliveries connect to public addresses only (webhooks/egress.py); on for receivers inside the network.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
# An egress proxy for deliveries (http://host:port); the environment's proxy variables are not used.
WEBHOOK_PROXY_URL = env.str("WEBHOOK_PROXY_URL", default="")
# Retry n waits min(base * 2**(n-1), max) after a failed attempt, until WEBHOOK_RETRY_WINDOW_SECONDS
# after the event; then the delivery is given up (state "failed").
WEBHOOK_BACKOFF_BASE_SECONDS = env.float("WEBHOOK_BACKOFF_BASE_SECONDS", default=30.0)
WEBHOOK_BACKOFF_MAX_SECONDS = env.float("WEBHOOK_BACKOFF_MAX_SECONDS", default=3600.0)
WEBHOOK_RETRY_WINDOW_SECONDS = env.int("WEBHOOK_RETRY_WINDOW_SECONDS", default=86400)
# A worker's claim on a delivery; past it (the worker died mid-attempt) another worker may send it again.
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=60)
# Batching: the commit of an event enqueues one drain task at most every WEBHOOK_DRAIN_DELAY_SECONDS (per
# cache: per process with the default in-memory cache, for every node with CACHE_URL=redis://…), which
# sends everything due by then; 0 enqueues one per commit. Events wait at most this much longer.
WEBHOOK_DRAIN_DELAY_SECONDS = env.float("WEBHOOK_DRAIN_DELAY_SECONDS", default=0.5)
WEBHOOK_DRAIN_CACHE = env.str("WEBHOOK_DRAIN_CACHE", default="default")
# Due deliveries claimed (and loaded) by one statement; sent one after the other under one lease.
WEBHOOK_DRAIN_BATCH_SIZE = env.int("WEBHOOK_DRAIN_BATCH_SIZE", default=20)
# Outbox events whose deliveries are all finished are deleted after this many days.
WEBHOOK_EVENT_RETENTION_DAYS = env.int("WEBHOOK_EVENT_RETENTION_DAYS", default=30)

# Periodic tasks are not defined here: django-celery-beat's DatabaseScheduler keeps them in the database
# (created by the data migration loyalty/0004_default_schedules, edited in the admin); see docs/operations.md.
