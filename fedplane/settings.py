"""fedplane settings, read once from the environment (12-factor).

Embedded default: SQLite under var/, filesystem Celery broker, in-memory channel
layer, file cache. Production: DATABASE_URL, REDIS_URL (channel layer, cache, rate
limits) and CELERY_BROKER_URL. Every variable is documented in README.md.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

FEDPLANE_ENV = env.str("FEDPLANE_ENV", default="embedded")  # embedded | production
PRODUCTION = FEDPLANE_ENV == "production"
VAR_DIR = Path(env.str("FEDPLANE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)
FEDPLANE_REGION = env.str("FEDPLANE_REGION", default="local")
FEDPLANE_VERSION = "0.1.0"


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when FEDPLANE_ENV=production")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "channels",
    "django_celery_results",
    "fedplane.api",
    "fedplane.events",
    "fedplane.ops",
    "fedplane.integration",
    "fedplane.dashboard",
    "flcore",
    "federation_registry",
    "regions",
]

MIDDLEWARE = [
    # django-prometheus's request metrics (same names), one middleware instead of its Before/After pair
    "fedplane.api.metrics.PrometheusMiddleware",
    "fedplane.api.middleware.RequestIdMiddleware",
    "fedplane.api.middleware.SecurityHeadersMiddleware",
    # HTTPS redirect, HSTS on HTTPS, Referrer-Policy, COOP (SECURE_* below); before anything that answers,
    # after the request id and the seed's headers so that its redirects carry them too.
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # /static/ from the ASGI server itself
    "corsheaders.middleware.CorsMiddleware",
    "fedplane.api.middleware.BodySizeLimitMiddleware",
    "fedplane.api.middleware.UnstorableTextMiddleware",  # %00 in an API path or query: 404/422, on any database
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",  # X_FRAME_OPTIONS; views may opt out by decorator
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "fedplane.api.middleware.PageMessageMiddleware",  # django.contrib.messages, skipped on /api/
    "fedplane.api.middleware.ApiErrorMiddleware",
    "fedplane.api.middleware.AuditMiddleware",
    "fedplane.api.idempotency.IdempotencyMiddleware",  # POSTs with Idempotency-Key: retries get the first answer
]

ROOT_URLCONF = "fedplane.urls"
WSGI_APPLICATION = "fedplane.wsgi.application"
ASGI_APPLICATION = "fedplane.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "fedplane" / "templates"],
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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'fedplane.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Django's backend, sized to this SQLite's variable limit (bulk writes in one statement).
    DATABASES["default"]["ENGINE"] = "fedplane.sqlite3"
    # WAL lets the web server and the worker read while the other writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE",
         "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    # A kept connection is checked before a request reuses it: after a PostgreSQL restart the first
    # request of each process failed on its dead connection instead of opening a new one.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")


def _redis_retry():
    """Reconnect and resend up to 3 times (0.1, 0.2, 0.4 s apart) after a connection error."""
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    return Retry(ExponentialBackoff(cap=1, base=0.1), 3)


if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # redis-py 8 reads with a 5 s socket timeout by default, the same as channels_redis's blocking
    # pop: every idle consumer died on a TimeoutError. The read must outlast the pop. Its asyncio
    # client retries nothing by default: after a Redis restart each pooled connection failed once
    # ("Connection closed by server"), so the first SSE subscriber to reconnect got an error.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                  "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15,
                                                        "retry": _redis_retry()}]}}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Events reach subscribers by a push on commit through a shared channel layer (Redis);
# with the in-memory layer each server process tails the event log instead.
EVENTS_DELIVERY = "push" if REDIS_URL else "poll"
EVENTS_POLL_INTERVAL = env.float("FEDPLANE_EVENTS_POLL_INTERVAL", default=0.2)

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Results (state, worker, runtime, traceback) go to the database, so the admin shows which
# worker runs which execution, replication or deployment; the frequent periodic tasks keep none.
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_IGNORE_RESULT = False
CELERY_TASK_ANNOTATIONS = {name: {"ignore_result": True} for name in (
    "ops.worker_ping", "flcore.recover_stale_executions", "regions.probe_regions")}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise serves the apps' static folders directly (admin, dashboard and its npm-built vendor/),
# so no collectstatic step is needed; files are indexed when the server starts.
WHITENOISE_USE_FINDERS = True
# The project's own static files (the API docs page's stylesheet), beside the apps' static folders.
STATICFILES_DIRS = [BASE_DIR / "fedplane" / "static"]
# Files browsers ask for at the root (/favicon.ico), served by WhiteNoise as they are.
WHITENOISE_ROOT = BASE_DIR / "fedplane" / "public"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one
# Lifetime of the bearer token the dashboard page gets for the API and WebSocket (renewed by the page).
DASHBOARD_TOKEN_SECONDS = env.int("FEDPLANE_DASHBOARD_TOKEN_SECONDS", default=300)

# --- Federated learning -------------------------------------------------------------
FLOWER_SUPERLINK_ADDRESS = env.str("FLOWER_SUPERLINK_ADDRESS", default="127.0.0.1:9093")
FLOWER_SUPERLINK_PUBLIC_ADDRESS = env.str("FLOWER_SUPERLINK_PUBLIC_ADDRESS", default=FLOWER_SUPERLINK_ADDRESS)
# runplatform starts a SuperLink at FLOWER_SUPERLINK_ADDRESS unless one is run elsewhere.
FLOWER_MANAGE_SUPERLINK = env.bool("FLOWER_MANAGE_SUPERLINK", default=True)
FLOWER_ROOT_CERTIFICATES = env.str("FLOWER_ROOT_CERTIFICATES", default="")  # CA PEM path when TLS is on
# TLS for the SuperLink that runsuperlink starts (all three, or none for plain HTTP).
FLOWER_SSL_CERTFILE = env.str("FLOWER_SSL_CERTFILE", default="")
FLOWER_SSL_KEYFILE = env.str("FLOWER_SSL_KEYFILE", default="")
# Flower SuperNode authentication: only clients whose public key fedplane registered on
# the SuperLink may connect, each with a stable node id. Needs TLS (the three above).
FLOWER_NODE_AUTH = env.bool("FLOWER_NODE_AUTH", default=False)
if FLOWER_NODE_AUTH and not FLOWER_ROOT_CERTIFICATES:
    raise ImproperlyConfigured("FLOWER_NODE_AUTH needs TLS: set FLOWER_ROOT_CERTIFICATES (and, where the "
                               "SuperLink runs, FLOWER_SSL_CERTFILE and FLOWER_SSL_KEYFILE)")
FLCORE_QUEUE = env.str("FLCORE_QUEUE", default="fl")
FLCORE_MAX_ATTEMPTS = env.int("FLCORE_MAX_ATTEMPTS", default=3)
FLCORE_SWEEP_SECONDS = env.float("FLCORE_SWEEP_SECONDS", default=15.0)
# A running execution whose worker sent no heartbeat for this long is taken over.
FLCORE_STALE_SECONDS = env.float("FLCORE_STALE_SECONDS", default=45.0)
# name -> "package.module:StrategyClass" (a Flower message-API Strategy)
FLCORE_STRATEGY_PLUGINS = env.dict("FLCORE_STRATEGY_PLUGINS", default={})
# Secret CKKS contexts of homomorphic-encryption executions (files 0600), read only to hand them to
# assigned clients; the worker never reads here. Put it on the API hosts only.
FLCORE_HE_KEY_DIR = Path(env.str("FLCORE_HE_KEY_DIR", default=str(VAR_DIR / "he-keys")))
# Client certificates (mTLS, flcore/services/client_ca.py): the CA that signs FL clients' certificates.
# Both paths, or neither: then the embedded default keeps one under VAR_DIR/client-ca (made on first
# use); production without them issues no certificates.
FLCORE_CLIENT_CA_CERT = env.str("FLCORE_CLIENT_CA_CERT", default="")
FLCORE_CLIENT_CA_KEY = env.str("FLCORE_CLIENT_CA_KEY", default="")
if bool(FLCORE_CLIENT_CA_CERT) != bool(FLCORE_CLIENT_CA_KEY):
    raise ImproperlyConfigured("FLCORE_CLIENT_CA_CERT and FLCORE_CLIENT_CA_KEY go together: set both or neither")
FLCORE_CLIENT_CERT_DAYS = env.float("FLCORE_CLIENT_CERT_DAYS", default=7.0)  # a fraction is allowed (tests)
if FLCORE_CLIENT_CERT_DAYS <= 0:
    raise ImproperlyConfigured("FLCORE_CLIENT_CERT_DAYS must be above 0")
# Peers (CIDRs) whose X-Client-Certificate header is believed: the TLS-terminating proxies.
FEDPLANE_TRUSTED_PROXIES = env.list("FEDPLANE_TRUSTED_PROXIES", default=[])
try:  # refused at start, not at the first request
    [ipaddress.ip_network(cidr, strict=False) for cidr in FEDPLANE_TRUSTED_PROXIES]
except ValueError as _exc:
    raise ImproperlyConfigured(f"FEDPLANE_TRUSTED_PROXIES: {_exc}") from None
FEDPLANE_ARTIFACT_ROOT = Path(env.str("FEDPLANE_ARTIFACT_ROOT", default=str(VAR_DIR / "artifacts")))
# Simulations (runtime "simulation"): an existing Ray cluster to run virtual clients on
# (host:port of its head, as `ray start --head` prints); empty: a local Ray per simulation.
RAY_ADDRESS = env.str("RAY_ADDRESS", default="")
# CPUs of the local Ray a simulation starts (the most one virtual client may ask for).
FLCORE_SIMULATION_CPUS = env.int("FLCORE_SIMULATION_CPUS", default=os.cpu_count() or 1)
FLCORE_SIMULATION_MAX_SUPERNODES = env.int("FLCORE_SIMULATION_MAX_SUPERNODES", default=10_000)
# Seconds to wait for RAY_ADDRESS to accept a connection before the execution fails (FL003).
FLCORE_RAY_CONNECT_TIMEOUT = env.float("FLCORE_RAY_CONNECT_TIMEOUT", default=5.0)
# Prometheus: per-execution series (round, loss, accuracy, clients, epsilon) for at most this many
# executions, running ones first, then those that ended within FLCORE_METRICS_RECENT_SECONDS.
FLCORE_METRICS_EXECUTIONS = env.int("FLCORE_METRICS_EXECUTIONS", default=20)
FLCORE_METRICS_RECENT_SECONDS = env.float("FLCORE_METRICS_RECENT_SECONDS", default=600.0)

# --- Module Federation registry -------------------------------------------------
# Seconds a fetch of a remote entry or an mf-manifest.json may take in total (MF007 past it).
FEDERATION_FETCH_TIMEOUT = env.float("FEDERATION_FETCH_TIMEOUT", default=5.0)
FEDERATION_FETCH_MAX_BYTES = env.int("FEDERATION_FETCH_MAX_BYTES", default=20 * 1024 * 1024)
# Hosts the registry may fetch remote entries and manifests from ("cdn.example.com", or ".example.com"
# for a domain and its subdomains); empty: any host. Link-local addresses are always refused.
FEDERATION_FETCH_ALLOWED_HOSTS = env.list("FEDERATION_FETCH_ALLOWED_HOSTS", default=[])
# Most application ids one POST /dependencies/resolve may name (duplicates count; 422 above). An empty
# list resolves every registered application, refused the same way when there are more than this.
FEDERATION_RESOLVE_MAX_APPLICATIONS = env.int("FEDERATION_RESOLVE_MAX_APPLICATIONS", default=1000)
# Cache-Control max-age of the public shell runtime endpoint; shells revalidate with ETags.
FEDERATION_SHELL_MAX_AGE = env.int("FEDERATION_SHELL_MAX_AGE", default=0)
FEDERATION_HEALTH_WINDOW_SECONDS = env.int("FEDERATION_HEALTH_WINDOW_SECONDS", default=900)
FEDERATION_HEALTH_WARNING_RATE = 0.1
FEDERATION_HEALTH_CRITICAL_RATE = 0.5

# --- Multi-region (regions app) -------------------------------------------------------
# A region created without a store URL gets a local folder under this root.
REGIONS_STORE_ROOT = Path(env.str("REGIONS_STORE_ROOT", default=str(VAR_DIR / "regions")))
# fsspec URLs of the roots regions' artifact stores must lie in (file:///srv/models,s3://bucket/models): a
# store_url of another scheme or outside them is refused, and every read and write is checked against them.
# Default: the var directory, and REGIONS_STORE_ROOT and FEDPLANE_ARTIFACT_ROOT where they are outside it.
REGIONS_STORE_ALLOWED_ROOTS = env.list("REGIONS_STORE_ALLOWED_ROOTS", default=[VAR_DIR.resolve().as_uri()] + [
    p.resolve().as_uri() for p in (REGIONS_STORE_ROOT, FEDPLANE_ARTIFACT_ROOT)
    if not p.resolve().is_relative_to(VAR_DIR.resolve())])
# Hosts a region's endpoint may name ("eu.example.com", or ".example.com" for a domain and its subdomains);
# empty: any host. Link-local addresses (the cloud's metadata service) are always refused.
REGIONS_ENDPOINT_ALLOWED_HOSTS = env.list("REGIONS_ENDPOINT_ALLOWED_HOSTS", default=[])
REGIONS_PROBE_TIMEOUT = env.float("REGIONS_PROBE_TIMEOUT", default=2.0)
REGIONS_PROBE_INTERVAL = env.float("REGIONS_PROBE_INTERVAL", default=5.0)  # GET /health reuses younger probes
REGIONS_PROBE_WINDOW = env.int("REGIONS_PROBE_WINDOW", default=10)  # probes an error rate is computed over
REGIONS_DEGRADED_LATENCY_MS = env.float("REGIONS_DEGRADED_LATENCY_MS", default=200.0)
REGIONS_DEGRADED_ERROR_RATE = env.float("REGIONS_DEGRADED_ERROR_RATE", default=0.01)
REGIONS_FAILOVER_AFTER = env.int("REGIONS_FAILOVER_AFTER", default=3)  # 0 turns automatic failover off
# Celery workers probe the regions this often in the background (0: only GET /health and failed forwards probe).
REGIONS_BACKGROUND_PROBE_SECONDS = env.float("REGIONS_BACKGROUND_PROBE_SECONDS", default=10.0)
REGIONS_REPLICATION_CHUNK_BYTES = env.int("REGIONS_REPLICATION_CHUNK_BYTES", default=8 * 1024 * 1024)
REGIONS_REPLICATION_MAX_RETRIES = env.int("REGIONS_REPLICATION_MAX_RETRIES", default=4)
REGIONS_REPLICATION_BACKOFF_MAX = env.int("REGIONS_REPLICATION_BACKOFF_MAX", default=60)
# S3-compatible stores (s3://bucket/prefix store URLs, through s3fs). Unset endpoint and credentials:
# AWS and boto's own chain (AWS_* variables, a profile, an instance role). Secrets come from the
# environment (or a secret manager that sets it), never from the repository.
REGIONS_S3_ENDPOINT_URL = env.str("REGIONS_S3_ENDPOINT_URL", default="")  # MinIO, Ceph, R2, ...: http(s)://host:port
REGIONS_S3_ACCESS_KEY_ID = env.str("REGIONS_S3_ACCESS_KEY_ID", default="")
REGIONS_S3_SECRET_ACCESS_KEY = env.str("REGIONS_S3_SECRET_ACCESS_KEY", default="")
REGIONS_S3_REGION = env.str("REGIONS_S3_REGION", default="")
# Multipart uploads: part size (S3 takes 5 MiB at least, except the last part) and parts sent at once.
REGIONS_S3_PART_BYTES = env.int("REGIONS_S3_PART_BYTES", default=16 * 1024 * 1024)
REGIONS_S3_CONCURRENCY = env.int("REGIONS_S3_CONCURRENCY", default=4)
if REGIONS_S3_PART_BYTES < 1 or REGIONS_REPLICATION_CHUNK_BYTES < 1:  # 0 would loop on empty parts, or copy nothing
    raise ImproperlyConfigured("REGIONS_S3_PART_BYTES and REGIONS_REPLICATION_CHUNK_BYTES must be at least 1")
REGIONS_MODEL_CACHE_SIZE = env.int("REGIONS_MODEL_CACHE_SIZE", default=16)
# Intra-op threads torch uses in a process that serves a torch model (0: torch's default, one per core).
REGIONS_TORCH_THREADS = env.int("REGIONS_TORCH_THREADS", default=1)
# Batches of one model a process may run at once with adaptive batching (Triton's instance count):
# with two, a batch formed while another runs does not wait for it. Default: up to 2 cores.
REGIONS_BATCH_INSTANCES = env.int("REGIONS_BATCH_INSTANCES", default=min(2, os.cpu_count() or 1))
if not 1 <= REGIONS_BATCH_INSTANCES <= 64:
    raise ImproperlyConfigured("REGIONS_BATCH_INSTANCES must be between 1 and 64")
REGIONS_FORWARD_TIMEOUT = env.float("REGIONS_FORWARD_TIMEOUT", default=30.0)
# How long a process reuses what routing reads (regions, replicas, servings, failovers); 0: every request.
REGIONS_ROUTING_CACHE_SECONDS = env.float("REGIONS_ROUTING_CACHE_SECONDS", default=1.0)
# What regions reads from federated learning (promote an aggregated model, meter training), provided
# by the integration layer so that regions does not import flcore.
REGIONS_AGGREGATED_MODEL_SOURCE = "fedplane.integration.sources.aggregated_model_arrays"
REGIONS_TRAINING_USAGE_SOURCE = "fedplane.integration.sources.training_seconds_by_region"
# proto=package.module:FileSystemClass,... registered with fsspec at start (custom stores)
REGIONS_FSSPEC_PLUGINS = env.dict("REGIONS_FSSPEC_PLUGINS", default={})

# --- Integration (cross-system health) ------------------------------------------
# How long GET /integration/health waits for Celery workers to answer a ping (0: no ping,
# judge workers by running executions' heartbeats only), and for a SuperLink's TCP port.
INTEGRATION_WORKER_PING_TIMEOUT = env.float("INTEGRATION_WORKER_PING_TIMEOUT", default=1.0)
INTEGRATION_CONNECT_TIMEOUT = env.float("INTEGRATION_CONNECT_TIMEOUT", default=1.0)

# --- Operations (runplatform) ---------------------------------------------------------
# A child process of runplatform that exits is restarted after FEDPLANE_RESTART_BACKOFF seconds,
# doubling on each exit in a row up to FEDPLANE_RESTART_BACKOFF_MAX; a child that ran for
# FEDPLANE_RESTART_STABLE_SECONDS before it exited starts the count again.
FEDPLANE_RESTART_BACKOFF = env.float("FEDPLANE_RESTART_BACKOFF", default=1.0)
FEDPLANE_RESTART_BACKOFF_MAX = env.float("FEDPLANE_RESTART_BACKOFF_MAX", default=30.0)
FEDPLANE_RESTART_STABLE_SECONDS = env.float("FEDPLANE_RESTART_STABLE_SECONDS", default=60.0)
# "host:port" where a Celery worker serves its own Prometheus metrics (rounds recorded, ...);
# empty: off (runplatform's workers write to the web's PROMETHEUS_MULTIPROC_DIR instead).
FEDPLANE_WORKER_METRICS_ADDRESS = env.str("FEDPLANE_WORKER_METRICS_ADDRESS", default="")

# --- API -----------------------------------------------------------------------
MAX_REQUEST_BODY_BYTES = env.int("FEDPLANE_MAX_BODY_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: a request that presents a client certificate is that client, whatever else it carries.
        "flcore.api.authentication.ClientCertificateAuthentication",
        "fedplane.api.authentication.ApiKeyAuthentication",
        "fedplane.api.authentication.ScopedJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["fedplane.api.permissions.HasRequiredScopes"],
    "DEFAULT_THROTTLE_CLASSES": ["fedplane.api.throttling.BucketThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["fedplane.api.envelope.EnvelopeJSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "fedplane.api.negotiation.ContentNegotiation",
    "DEFAULT_PARSER_CLASSES": ["fedplane.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "fedplane.api.pagination.PagePagination",
    "DEFAULT_FILTER_BACKENDS": [
        "fedplane.api.filters.FilterSetBackend",
        "fedplane.api.filters.SearchFilter",
        "fedplane.api.filters.SortFilter",
    ],
    "EXCEPTION_HANDLER": "fedplane.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "fedplane.api.schema.EnvelopeAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "PAGE_SIZE": 20,
}

# The lean inference path (fedplane/api/lean.py): OIP v2 infer and the seed's predict answered in
# front of Django's middleware chain, with the same authentication, scopes, limits and metering.
LEAN_INFERENCE_PATH = env.bool("FEDPLANE_LEAN_INFERENCE_PATH", default=True)
# A lean request whose model call took at most this long lately (model loaded, batching off, key
# cached, limits counted without Redis) is answered on the event loop itself; 0 turns that off.
LEAN_INLINE_MAX_CALL_MS = env.float("FEDPLANE_LEAN_INLINE_MAX_CALL_MS", default=0.5)
# While the process serves one request at a time (no other HTTP request in flight for a while), a
# lean request whose model call took up to this long is answered on the loop too: handing it to a
# thread and back costs two cross-thread wake-ups, ~0.4 ms on a 2-vCPU VM. 0 turns that off.
LEAN_IDLE_INLINE_MAX_CALL_MS = env.float("FEDPLANE_LEAN_IDLE_INLINE_MAX_CALL_MS", default=10.0)
if LEAN_INLINE_MAX_CALL_MS < 0 or LEAN_IDLE_INLINE_MAX_CALL_MS < 0:
    raise ImproperlyConfigured("FEDPLANE_LEAN_INLINE_MAX_CALL_MS and FEDPLANE_LEAN_IDLE_INLINE_MAX_CALL_MS must be "
                               "0 (off) or more.")

RATE_LIMITS = {
    "default": env.int("FEDPLANE_RATE_LIMIT_DEFAULT", default=1000),
    "training": env.int("FEDPLANE_RATE_LIMIT_TRAINING", default=10),
    "deployment": env.int("FEDPLANE_RATE_LIMIT_DEPLOYMENT", default=50),
}
RATE_LIMIT_WINDOW_SECONDS = 3600
# Predictions (regions app) also count in a bucket of their own.
RATE_LIMITS["predict"] = env.int("FEDPLANE_RATE_LIMIT_PREDICT", default=10000)
# While Redis is unreachable the rate limiter lets requests through uncounted (and logs it) for this
# many seconds of the outage, then answers 503 until Redis is back; 0: 503 at once.
RATE_LIMIT_FAIL_OPEN_SECONDS = env.float("FEDPLANE_RATE_LIMIT_FAIL_OPEN_SECONDS", default=60.0)
# Retry-After of the 503 answered while PostgreSQL, Redis or the broker cannot be reached.
OUTAGE_RETRY_AFTER_SECONDS = env.int("FEDPLANE_OUTAGE_RETRY_AFTER", default=5)
# POSTs with an Idempotency-Key: how long the first answer is kept and replayed to retries, and how long
# a claim whose answer was never stored (its process died) holds the key before a retry runs again.
IDEMPOTENCY_KEY_TTL_SECONDS = env.int("FEDPLANE_IDEMPOTENCY_TTL_SECONDS", default=24 * 3600)
IDEMPOTENCY_LOCK_SECONDS = env.int("FEDPLANE_IDEMPOTENCY_LOCK_SECONDS", default=60)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_OBTAIN_SERIALIZER": "fedplane.api.serializers.ScopedTokenObtainSerializer",
    "UPDATE_LAST_LOGIN": False,
}
API_KEY_LIFETIME_DAYS = 90
# How long a process reuses a verified API key (saves a query per request); rotate, revoke or
# delete takes effect at once in the process that did it, within this many seconds in others. 0: off.
API_KEY_CACHE_SECONDS = env.float("FEDPLANE_API_KEY_CACHE_SECONDS", default=5.0)
API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"

SPECTACULAR_SETTINGS = {
    "TITLE": "fedplane API",
    "DESCRIPTION": "Federated learning, Module Federation registry and multi-region ML platform.",
    "VERSION": FEDPLANE_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs page are API endpoints like any other: credentials required.
    "SERVE_PERMISSIONS": ["fedplane.api.permissions.HasRequiredScopes"],  # any account; no client certificate
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name get names of their own, instead of hashed ones and a warning
    # from `manage.py check --deploy` (which builds the schema) for each.
    "ENUM_NAME_OVERRIDES": {
        "ArtifactFormatEnum": "regions.choices.ArtifactFormat",
        "ExecutionRuntimeEnum": "flcore.choices.Runtime",
        "ExecutionStatusEnum": "flcore.choices.ExecutionStatus",
        "ClientStatusEnum": "flcore.choices.ClientStatus",
        "RoundStatusEnum": "flcore.choices.RoundStatus",
        "ModuleStatusEnum": "federation_registry.choices.ModuleStatus",
        "FailoverStatusEnum": "regions.choices.FailoverStatus",
        "ModuleDeploymentStrategyEnum": "federation_registry.choices.DeploymentStrategy",
        "RegionDeploymentStrategyEnum": "regions.choices.DeploymentStrategy",
    },
    # spectacular's enums (it rebuilds the components), then the envelope's components, paginated
    # lists and the SSE stream (fedplane/api/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "fedplane.api.schema.postprocess"],
}

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_HEADERS = ("authorization", "content-type", "x-api-key", "x-request-id", "idempotency-key")
CORS_EXPOSE_HEADERS = ("x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
                       "idempotent-replayed", "retry-after")

# HTTPS: production defaults are what `manage.py check --deploy` asks for; each can be changed from the
# environment (README). Behind a proxy that terminates TLS, set SECURE_PROXY_SSL_HEADER=true so that
# its X-Forwarded-Proto says the request was HTTPS (only if the proxy always sets that header).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# Plain-HTTP callers inside a cluster: liveness and readiness probes, Prometheus, the regions' prober.
SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^readyz$", r"^metrics$", r"^v2/health/"]
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "fedplane.api.views_errors.csrf_failure"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}, "httpx": {"level": "WARNING"},
                "alembic": {"level": "WARNING"}},
}
