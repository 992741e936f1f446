"""Casebook settings: one module, driven by the environment (see .env.example)."""

import ipaddress
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# A development key is only acceptable while DEBUG is on; anywhere else the
# operator must provide one, or sessions and CSRF tokens become forgeable.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off."
        )
    SECRET_KEY = "casebook-development-only-key-not-for-production-use-0123456789"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "accounts.admin_site.CasebookAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "incidents",
    "evidence",
    "dossiers",
    "analysis",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.null_bytes.RejectNullBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'casebook.sqlite3'}"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers (web + worker) queue for the write lock instead of failing:
    # IMMEDIATE takes it when a transaction starts, so no reader upgrades into a
    # deadlock, and the timeout is how long a writer waits its turn.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20, transaction_mode="IMMEDIATE"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "incidents:list"
LOGOUT_REDIRECT_URL = "accounts:login"

# Sign-in protection (accounts.services.sign_in_attempt_reserve): within the window, a
# username is refused from one client address after LOGIN_FAILURE_LIMIT failures there,
# and an address after LOGIN_FAILURE_ADDRESS_LIMIT failures over all usernames; other
# addresses are not affected.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_ADDRESS_LIMIT = env.int("LOGIN_FAILURE_ADDRESS_LIMIT", default=20)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
# Reverse proxies (addresses or networks) whose X-Forwarded-For is believed, hop by hop
# from the right (accounts.client_address). Empty: the header is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_proxy!r} is not an address or a network."
        ) from None

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Folders are made where they are first used, never when settings are imported:
# collectstatic or bin/serve makes this one, storage its own, the signing commands
# theirs, config/celery.py the filesystem broker's.
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Evidence bytes: a local folder by default, or an S3-compatible bucket through
# django-storages (credentials and endpoint from its AWS_S3_* / AWS_* variables).
EVIDENCE_S3_BUCKET = env.str("EVIDENCE_S3_BUCKET", default="")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": EVIDENCE_S3_BUCKET,
                "endpoint_url": env.str("EVIDENCE_S3_ENDPOINT_URL", default="") or None,
                "file_overwrite": False,
            },
        }
        if EVIDENCE_S3_BUCKET
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = env.path("CASEBOOK_MEDIA_ROOT", default=VAR_DIR / "media")
# Stored evidence is read-only on disk: written once, never opened for writing again.
FILE_UPLOAD_PERMISSIONS = 0o440
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
EVIDENCE_MAX_UPLOAD_BYTES = env.int("EVIDENCE_MAX_UPLOAD_BYTES", default=4 * 1024**3)
# Query-log batches: the body as sent, the body once inflated (a gzip bomb stops
# here), and one record's line.
QUERY_LOG_MAX_BODY_BYTES = env.int("QUERY_LOG_MAX_BODY_BYTES", default=2 * 1024**3)
QUERY_LOG_MAX_INFLATED_BYTES = env.int(
    "QUERY_LOG_MAX_INFLATED_BYTES", default=16 * 1024**3
)
QUERY_LOG_MAX_LINE_BYTES = env.int("QUERY_LOG_MAX_LINE_BYTES", default=4 * 1024**2)
# The work one request may cause: a gzip body may inflate at most this many times its
# compressed size once past the floor (real logs compress 5-30x; deflate's ceiling is
# about 1030x, reached only by runs of one byte), and hold at most this many lines,
# blank ones included (each costs parsing time even when it stores nothing).
QUERY_LOG_MAX_INFLATE_RATIO = env.int("QUERY_LOG_MAX_INFLATE_RATIO", default=200)
QUERY_LOG_INFLATE_RATIO_FLOOR_BYTES = env.int(
    "QUERY_LOG_INFLATE_RATIO_FLOOR_BYTES", default=1024**2
)
QUERY_LOG_MAX_LINES = env.int("QUERY_LOG_MAX_LINES", default=5_000_000)
# Usernames who triage incidents that detector alerts open: the first owns them, all
# become members (otherwise only the detector account and administrators see them).
ALERT_TRIAGE_USERS = env.list("ALERT_TRIAGE_USERS", default=[])
# Jobs of each kind: one with no progress for this long lost its worker and is queued
# again; one queued this long without a worker taking it is sent again.
DOSSIER_STALE_SECONDS = env.int("DOSSIER_STALE_SECONDS", default=660)
ANALYSIS_STALE_SECONDS = env.int("ANALYSIS_STALE_SECONDS", default=660)
CUSTODY_JOB_STALE_SECONDS = env.int("CUSTODY_JOB_STALE_SECONDS", default=660)
# Custody verification and the custody bundle re-read every stored byte of an
# incident: above this many bytes they run as jobs (202 and a progress bar) instead
# of inside the request.
CUSTODY_SYNC_MAX_BYTES = env.int("CUSTODY_SYNC_MAX_BYTES", default=256 * 1024**2)
# PAdES signing identity (`manage.py create_signing_identity` makes a development one)
# and an optional RFC 3161 timestamp authority.
DOSSIER_SIGNING_KEY_PATH = env.path(
    "DOSSIER_SIGNING_KEY_PATH", default=VAR_DIR / "keys" / "dossier-signing.key"
)
DOSSIER_SIGNING_CERT_PATH = env.path(
    "DOSSIER_SIGNING_CERT_PATH", default=VAR_DIR / "keys" / "dossier-signing.crt"
)
DOSSIER_TSA_URL = env.str("DOSSIER_TSA_URL", default="")
# The Ed25519 key that signs custody checkpoints; created on first use. Back it up:
# without it, new checkpoints cannot continue the old key's signatures.
CUSTODY_SIGNING_KEY_PATH = env.path(
    "CUSTODY_SIGNING_KEY_PATH", default=VAR_DIR / "keys" / "custody-ed25519.pem"
)


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.TokenScopePermission",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParserWithDepthLimit"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.openapi.AutoSchema",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Casebook API",
    "DESCRIPTION": "Model-extraction case management: incidents, evidence, custody.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The contract is public; reading it needs no account.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        # kombu's default is "control" in the working directory, i.e. the checkout.
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=1800)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=1500)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=1_000_000
)  # kilobytes
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {
    # Every job kind (dossiers, analyses, ...): lost workers and lost messages.
    "jobs-recover-stale": {
        "task": "jobs.tasks.job_recover_stale_task",
        "schedule": 300,
    },
    "custody-verify-daily": {
        "task": "evidence.tasks.custody_verify_all_task",
        "schedule": 24 * 3600,
    },
}

# Production hardening; `manage.py check --deploy` is clean when these are on.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
    else None
)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_SECONDS", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy on every response (django-csp). Pages load script, style,
# images and fonts from this origin only, and nothing inline: the templates carry no
# inline script, event handler, <style> or style attribute (bars and swatches are SVG
# attributes), so markup an attacker slips into a case can neither run nor restyle the
# page. The API docs (/api/docs/) add what Swagger UI needs (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # data: for the empty favicon in base.html (which spares a /favicon.ico 404);
        # an image cannot run script.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # WeasyPrint reports every page at INFO; a long dossier would flood the log.
    "loggers": {"weasyprint.progress": {"level": "WARNING"}},
}
