"""Settings from the environment.

With no DATABASE_URL the app runs on an SQLite file and Celery runs tasks eagerly, in-process,
so one command gives a working dashboard. With DATABASE_URL (PostgreSQL) and REDIS_URL it runs
as in production: web, worker and beat.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", default=False)

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tables2",
    "django_filters",
    "simple_history",
    "csp",
    "axes",
    "django_otp",
    "config.apps.AuthenticatorApps",  # django_otp.plugins.otp_totp, named for the admin
    "config.apps.RecoveryCodes",  # django_otp.plugins.otp_static
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "subjects",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "config.middleware.SecondFactorRequiredMiddleware",
    "config.middleware.NoStoreWhenSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
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
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'hepwatch.sqlite3'}", conn_max_age=60
    )
}
EMBEDDED = DATABASES["default"]["ENGINE"].endswith("sqlite3")
if EMBEDDED:
    # SQLite as a real embedded database: readers never block the writer (WAL); a writer waits
    # up to 20 s for another (the busy timeout); and every transaction takes the write lock when
    # it begins (IMMEDIATE), so a transaction that has read never fails upgrading to a write,
    # where SQLite answers "database is locked" at once without waiting.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }

# A development key only when DEBUG is on or on the embedded SQLite default.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not (DEBUG or EMBEDDED):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-hepwatch"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five failed sign-ins for one account from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("HEPWATCH_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("HEPWATCH_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# Two-factor sign-in (django-otp, config/middleware.py): reviewers, unblinded users and staff
# confirm each sign-in with a TOTP code from an authenticator app or a one-time recovery code.
# Wrong codes are throttled: after n failures the next try waits 2^(n-1) seconds (factor 1).
OTP_TOTP_ISSUER = "hepwatch"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# Staff reset a user's two-factor sign-in in the admin; they never see a user's secret or codes.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Files the app writes for its users (study exports built by Celery, monitoring.models.ExportJob):
# served only through the app, to the user who asked, never as public media.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (cached for a year by browsers) with .gz and .br files beside each, which
    # WhiteNoise serves to the browsers that accept them: for slow hospital networks.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The read API (monitoring/views/api.py): signed in by session or a bearer token, read-only,
# its OpenAPI schema from drf-spectacular and its docs page served from the sidecar's static files.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "subjects.api_tokens.BearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "hepwatch read API",
    "DESCRIPTION": "Subjects with their safety state and regimen, alerts and cases with their "
    "decisions; each scoped to the sites the caller may see.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "hepwatch@localhost")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)

# Celery: eager and in-process without a broker; Redis in production.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The worker's processes (docker-compose's --concurrency 2); evaluation requests are split so
# each has work (monitoring.tasks.evaluation_chunks).
CELERY_WORKER_CONCURRENCY = int(os.environ.get("CELERY_WORKER_CONCURRENCY", "2"))
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# A task whose worker died unacknowledged goes back to the queue after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "visibility_timeout": int(os.environ.get("HEPWATCH_VISIBILITY_TIMEOUT", "900")),
    "unacked_restore_interval": int(os.environ.get("HEPWATCH_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": 1,
}
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "monitoring.tasks.heartbeat",
        "schedule": float(os.environ.get("HEPWATCH_HEARTBEAT_SECONDS", "60")),
    },
    "sweep-unevaluated": {"task": "monitoring.tasks.sweep_unevaluated", "schedule": 300.0},
    "evaluate-time-rules": {"task": "monitoring.tasks.evaluate_time_rules", "schedule": 3600.0},
    "delete-expired-exports": {
        "task": "monitoring.tasks.delete_expired_exports",
        "schedule": 3600.0,
    },
}

# /healthz gives its details (database vendor, broker mode, heartbeat age) to staff and to a
# caller sending `Authorization: Bearer <token>` with this token; to anyone else only ok or fail.
HEPWATCH_HEALTH_TOKEN = os.environ.get("HEPWATCH_HEALTH_TOKEN", "")

# The study's maintenance interval between routine labs (rule R10), in days.
HEPWATCH_MAINTENANCE_DAYS = int(os.environ.get("HEPWATCH_MAINTENANCE_DAYS", "30"))
# Days a study export built on the Reports page is kept, with its file, after it was asked for.
HEPWATCH_EXPORT_RETENTION_DAYS = int(os.environ.get("HEPWATCH_EXPORT_RETENTION_DAYS", "7"))
# Code of the study that imports and new subjects go to.
HEPWATCH_DEFAULT_STUDY = os.environ.get("HEPWATCH_DEFAULT_STUDY", "MIPO-01")
# Where reviewers reach the app: e-mails link to it absolutely (a mail client has no "current
# site" to resolve a relative link against).
HEPWATCH_BASE_URL = os.environ.get("HEPWATCH_BASE_URL", "http://127.0.0.1:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logformat.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("LOG_FORMAT", "plain"),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# The audit history is shown, never replayed ("reverted") through the admin.
SIMPLE_HISTORY_REVERT_DISABLED = True

# Sessions end after 30 idle minutes; cookies are HTTP-only and same-site.
SESSION_COOKIE_AGE = int(os.environ.get("HEPWATCH_SESSION_IDLE_SECONDS", "1800"))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Served over HTTPS (directly or behind a TLS proxy that sets X-Forwarded-Proto): secure
# cookies, redirects to HTTPS and HSTS. `manage.py check --deploy` passes with this on.
HTTPS = env_bool("HEPWATCH_HTTPS", default=False)
if HTTPS:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# Content Security Policy: scripts and styles from our own static files only, no inline
# script (charts read their data from JSON blocks); plotly sets inline styles on its SVG.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
