"""Settings: read from the environment, with embedded defaults that run on one machine.

Every setting is listed once in README.md ("Configuration"). Without DATABASE_URL and
REDIS_URL the platform runs with no services at all: a SQLite file under var/, the
local-memory cache and Celery in eager mode.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "insecure-embedded-default-only-for-DEBUG"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")

# The public base URL of this platform, used in the embed snippet and in the banner's
# endpoint URL. Unset: built from each request's host.
CONSENT_PUBLIC_URL = os.environ.get("CONSENT_PUBLIC_URL", "").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "consent",
]

# ConsentMiddleware sits inside ConsentCSPMiddleware (django-csp's, which writes the
# consent-aware policy on the way out) and outside everything that sets cookies.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "consent.api.fastpath.FastPathMiddleware",
    "consent.csp.ConsentCSPMiddleware",
    "consent.middleware.ConsentMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'consent.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        # No "SELECT 1" before each request's first query: a connection that died answers
        # that request with 503 (the banner sends the decision again) and is replaced; a
        # batch of decisions (consent.groupcommit) is tried once more on a new one.
        conn_health_checks=False,
    )
}
# A streaming replica for the console's heavy reads (record lists, statistics, exports):
# consent.db_routers sends only those there; writes and the consent POST never go there.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=False,
    )
    # Tests run against one database: the replica alias is the same test database.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["consent.db_routers.ReplicaRouter"]
for _database in DATABASES.values():
    if _database["ENGINE"] != "django.db.backends.postgresql":
        continue
    _options = _database.setdefault("OPTIONS", {})
    # A database that stops answering must not hold a request for ever: give up
    # connecting after 5 s and notice a dead peer within about a minute.
    for _name, _value in {
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }.items():
        _options.setdefault(_name, _value)
    # Behind PgBouncer in transaction mode a server-side cursor may outlive the
    # transaction that opened it on the server it was opened on (Django's docs,
    # "Transaction pooling and server-side cursors").
    _database["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_POOLER_TRANSACTION_MODE", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers and the one writer work side by side; the timeout makes a second
    # writer wait instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that a real Celery worker process can see test data; one
    # per test process, so that test runs side by side never share one.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "consent.cache.TolerantRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "consent"),
            "TIMEOUT": 3600,
            "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"
# The Chromium the cookie scanner drives (Debian's package by default).
CONSENT_SCANNER_CHROMIUM = os.environ.get("CONSENT_SCANNER_CHROMIUM", "/usr/bin/chromium")
# Where export files are written; served only to staff through the admin.
CONSENT_EXPORT_DIR = Path(os.environ.get("CONSENT_EXPORT_DIR", VAR_DIR / "exports"))

# --- Security: production values follow from DEBUG being off ---------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_HTTPS_PROXY", not DEBUG) else None
)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Strict CSP for every page: no inline script without a nonce, no eval. On the enforced
# site's pages (CONSENT_ENFORCED_PATHS) consent.middleware adds the hosts of the vendors
# the visitor allows; every other page gets exactly this policy.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
    "EXCLUDE_URL_PREFIXES": ["/c/"],
}
# The pages ConsentMiddleware enforces (path prefixes): here the demo shop. Everything
# else is the console (admin, API docs, statistics, scans), which keeps the fixed policy
# above whatever vendor hosts are entered in the admin.
CONSENT_ENFORCED_PATHS = env_list("CONSENT_ENFORCED_PATHS", "/demo/")
# Expiring a refused category's cookies: at most this many cookies and this many bytes
# of Set-Cookie headers per response; the rest are expired on the next pages.
CONSENT_EXPIRE_MAX_COOKIES = env_int("CONSENT_EXPIRE_MAX_COOKIES", 50)
CONSENT_EXPIRE_MAX_BYTES = env_int("CONSENT_EXPIRE_MAX_BYTES", 4096)

# --- REST API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "consent.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "consent": os.environ.get("CONSENT_THROTTLE_RATE", "60/min"),
        "receipt": os.environ.get("RECEIPT_THROTTLE_RATE", "30/min"),
        # Clients are counted per network (IPv4 /24, IPv6 /64); the decisions one site may
        # record from all clients together; public erasures per client network.
        "consent_site": os.environ.get("CONSENT_SITE_THROTTLE_RATE", "6000/min"),
        "erasure": os.environ.get("CONSENT_ERASURE_THROTTLE_RATE", "5/hour"),
        # The transparency log's public key, heads and proofs, per client network.
        "log": os.environ.get("CONSENT_LOG_THROTTLE_RATE", "120/min"),
    },
    "NUM_PROXIES": env_int("NUM_PROXIES", 0) if os.environ.get("NUM_PROXIES") else None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Consent platform API",
    "DESCRIPTION": "Record and prove cookie consent; access and erase a visitor's records.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # The consent POST is a plain view: its operation is added here.
        "consent.api.consents.add_to_schema",
    ],
}
# Largest consent POST body accepted; larger ones get 413.
CONSENT_MAX_BODY_BYTES = env_int("CONSENT_MAX_BODY_BYTES", 4096)
# Overlapping consent POSTs of one process stored in one transaction (consent.groupcommit).
CONSENT_GROUP_COMMIT = env_bool("CONSENT_GROUP_COMMIT", True)

# --- Consent behaviour ------------------------------------------------------------------
# The Site whose cookie definitions a Django project that installs this app enforces.
CONSENT_SITE_KEY = os.environ.get("CONSENT_SITE_KEY", "demo")
# "block" (fail closed): cookies no CookieDefinition knows are removed; "allow": kept.
CONSENT_UNKNOWN_COOKIES = os.environ.get("CONSENT_UNKNOWN_COOKIES", "block")
# Cookies that are always required, whatever the definitions say (session, CSRF, ...).
CONSENT_REQUIRED_COOKIES = env_list(
    "CONSENT_REQUIRED_COOKIES", "sessionid,csrftoken,messages,django_language"
)
# The fewest days a site's consent records may be kept: the admin refuses a shorter
# retention, whoever asks (evidence must outlive the choices it proves).
CONSENT_RETENTION_MIN_DAYS = env_int("CONSENT_RETENTION_MIN_DAYS", 365)
# How long the script/config responses may be cached by browsers and CDNs (seconds).
CONSENT_SCRIPT_MAX_AGE = env_int("CONSENT_SCRIPT_MAX_AGE", 300)

# --- Celery ----------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How long a task taken by a worker that then died waits before another worker gets it
# (Redis broker). It must exceed the longest task, or a slow task would run twice at once.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # A signed head every few seconds while there is something new; a seal that waited
    # longer than a few rounds is dropped (the next one does its work).
    "seal-audit-log": {
        "task": "consent.tasks.seal_audit_log",
        "schedule": float(os.environ.get("CONSENT_LOG_SEAL_SECONDS", "2")),
        "options": {"expires": 10},
    },
    "purge-expired-records": {"task": "consent.tasks.purge_expired_records", "schedule": 86400.0},
    "maintain-partitions": {"task": "consent.tasks.maintain_partitions", "schedule": 3600.0},
    "aggregate-daily-stats": {"task": "consent.tasks.aggregate_daily_stats", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# The date /.well-known/gpc.json reports as the last change to our GPC support.
CONSENT_GPC_LAST_UPDATE = os.environ.get("CONSENT_GPC_LAST_UPDATE", "2026-11-23")
# The headers a trusted proxy or CDN sets with the visitor's country and subdivision
# (CF-IPCountry; CloudFront-Viewer-Country and CloudFront-Viewer-Country-Region;
# X-Vercel-IP-Country and X-Vercel-IP-Country-Region). Unset: no regional detection.
CONSENT_COUNTRY_HEADER = os.environ.get("CONSENT_COUNTRY_HEADER", "")
CONSENT_REGION_HEADER = os.environ.get("CONSENT_REGION_HEADER", "")

# --- Console logins: lockout after repeated failures (issue 11; django-axes) -----------
# LOGIN_FAILURE_LIMIT wrong passwords in a row for one username from one client address
# lock that combination out for LOGIN_COOLOFF_MINUTES (a 429 page; another user, or the
# same user elsewhere, is not affected). Every failure during the lockout starts the
# cool-off again; a successful login clears the count. `manage.py axes_reset` unlocks.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes requires
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/login_locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no banner on every manage.py command
# The client's network (IPv4 /24, IPv6 /64), as the throttles count it: an attacker
# rotates addresses within a network at no cost. X-Forwarded-For only behind NUM_PROXIES.
AXES_CLIENT_IP_CALLABLE = "consent.admin_access.login_network"

# --- Files owner-only (issue 11; consent.owner_only) ----------------------------------
# The SQLite database (and its -wal/-shm files, which SQLite creates with the database
# file's mode) is created 0600 before SQLite opens it; exports are 0600 in a 0700
# directory.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    from consent.owner_only import SQLiteConnection

    DATABASES["default"].setdefault("OPTIONS", {})["factory"] = SQLiteConnection

# --- Cookie scanner: its browser's leash (issue 11; consent.scanner, consent.egress) ----
# What the scanner's browser may reach besides public addresses, comma-separated: CIDRs,
# addresses or address:port ("10.1.0.0/16", "127.0.0.1:8000", "[::1]:8000"). Empty:
# public addresses only, the site's own origins included.
CONSENT_SCANNER_ALLOWED_NETWORKS = env_list("CONSENT_SCANNER_ALLOWED_NETWORKS")
# The longest one scan may take (seconds), whatever the Celery pool: pages not reached by
# then are reported not visited; a browser still busy is killed, the scan marked failed.
CONSENT_SCANNER_TIME_LIMIT = env_int("CONSENT_SCANNER_TIME_LIMIT", 300)
# The unprivileged user the browser runs as when the worker runs as root.
CONSENT_SCANNER_USER = os.environ.get("CONSENT_SCANNER_USER", "nobody")
# Chromium's sandbox for scanned pages; off only where user namespaces are unavailable.
CONSENT_SCANNER_SANDBOX = env_bool("CONSENT_SCANNER_SANDBOX", True)

# --- The transparency log (consent.transparency) ---------------------------------------
# The Ed25519 key that signs tree heads: CONSENT_LOG_KEY (PEM or raw base64) or this file
# (made by `manage.py log_key`), never the database.
CONSENT_LOG_KEY_FILE = os.environ.get("CONSENT_LOG_KEY_FILE", str(VAR_DIR / "consent-log.key"))
# Its public half (raw, base64; `manage.py log_key` prints it): set it on web servers that
# do not hold the private key, which only the sealer (Celery worker) needs.
CONSENT_LOG_PUBLIC_KEY = os.environ.get("CONSENT_LOG_PUBLIC_KEY", "")
# The log's name, the second line of every signed head: one per deployment.
CONSENT_LOG_ORIGIN = os.environ.get(
    "CONSENT_LOG_ORIGIN",
    next((h.lstrip(".") for h in ALLOWED_HOSTS if h not in ("*", "")), "localhost")
    + "/consent-log",
)
# How often the sealer appends new rows and signs a head while there are some.
CONSENT_LOG_SEAL_SECONDS = float(os.environ.get("CONSENT_LOG_SEAL_SECONDS", "2"))
# Where every signed head is also written, outside the database's control: a file (one
# JSON line per head, appended) and an HTTP endpoint (POST of the head, retried with
# back-off). Empty: none.
CONSENT_LOG_HEADS_FILE = os.environ.get("CONSENT_LOG_HEADS_FILE", "")
CONSENT_LOG_HEADS_URL = os.environ.get("CONSENT_LOG_HEADS_URL", "")
