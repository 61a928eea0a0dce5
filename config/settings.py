"""Baton settings. Every value that differs between a laptop and production comes
from the environment; see README.md ("Settings") for the list."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.environment import (
    EMBEDDED_REDIS_URL,
    celery_queues,
    development_secret_key,
    env_bool,
    env_int,
    env_list,
    redis_settings,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BATON_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", default=False)
# Every web and worker process of one site must share the key (visitor tokens, signed file
# links, sessions): a key made up by each host would make them reject each other's.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off every process must get the same secret "
            "key from the environment: generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` and set it as "
            "SECRET_KEY (or run with DEBUG=1 on a laptop, which keeps one in var/secret_key)."
        )
    SECRET_KEY = development_secret_key(VAR_DIR / "secret_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "chats",
    "distributor",
    "handoff",
    "telegram_bridge",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.content_security_policy.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # last: turns a login refused for too many failures into the login page with the reason
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

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

# --- database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'baton.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
if os.environ.get("BATON_DATABASE_NAME"):
    # test servers started by the test suite point at the suite's test database
    DATABASES["default"]["NAME"] = os.environ["BATON_DATABASE_NAME"]
# Opening a connection per database call was a quarter of a websocket process's database
# time (bench/widget_load.py). Channels runs a process's consumer calls on one thread, so
# SQLite keeps that thread's connection; PostgreSQL hands connections back to a pool
# instead of closing them (a persistent connection per ASGI request thread would leak).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", default=600)
    DATABASES["default"]["OPTIONS"] = {
        # concurrent writers wait for each other instead of failing "database is locked"
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Daphne in another process (browser tests) must see the test database: keep it in a file.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("BATON_TEST_SQLITE", str(VAR_DIR / f"test-{os.getpid()}.sqlite3"))
    }
else:
    if env_bool("DATABASE_POOL", default=True):
        DATABASES["default"]["OPTIONS"] = {
            "pool": {
                "min_size": 1,
                "max_size": env_int("DATABASE_POOL_MAX_SIZE", default=20),
                "timeout": 30,
            }
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", default=0)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: channel layer, celery, cache ---------------------------------
_redis = redis_settings(
    os.environ.get("REDIS_URL") or EMBEDDED_REDIS_URL,
    channel_layer=os.environ.get("BATON_CHANNEL_LAYER", "pubsub"),
)
REDIS_URL = _redis["REDIS_URL"]
CHANNEL_LAYERS = _redis["CHANNEL_LAYERS"]
CELERY_BROKER_URL = _redis["CELERY_BROKER_URL"]
CELERY_RESULT_BACKEND = _redis["CELERY_RESULT_BACKEND"]
CACHES = _redis["CACHES"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# the queues the worker with beat consumes under `make run` (config/runner.py passes them
# as --queues; reports have a worker of their own); docker-compose.yml runs a worker per queue
BATON_CELERY_QUEUES = celery_queues()
CELERY_BEAT_SCHEDULE = {
    "handoff-deadlines": {
        "task": "handoff.sweep_deadlines",
        "schedule": env_int("BATON_SWEEP_SECONDS", default=2),
        "options": {"expires": 10},
    },
    "dialogs-idle-close": {
        "task": "chats.close_idle_dialogs",
        "schedule": 60,
        "options": {"expires": 60},
    },
    "telegram-sweep": {
        "task": "telegram_bridge.sweep",
        "schedule": env_int("BATON_TELEGRAM_SWEEP_SECONDS", default=10),
        "options": {"expires": 30},
    },
    # deletes report files past their retention, fails builds whose worker died
    "reports-sweep": {
        "task": "reports.sweep",
        "schedule": 5 * 60,
        "options": {"expires": 5 * 60},
    },
    # API bots' webhooks: due retries, deliveries a restarted worker missed, dialogs
    # that ended while a bot held them (queue "webhooks", config/celery.py)
    "webhooks-sweep": {
        "task": "distributor.webhooks_sweep",
        "schedule": env_int("BATON_WEBHOOKS_SWEEP_SECONDS", default=10),
        "options": {"expires": 30},
    },
    # files uploaded but never sent in a message (chats.services.uploads)
    "uploads-unattached-delete": {
        "task": "chats.delete_unattached_uploads",
        "schedule": 60 * 60,
        "options": {"expires": 60 * 60},
    },
    # builds the scheduled reports that are due (delivered when built)
    "reports-schedules": {
        "task": "reports.schedules_run",
        "schedule": 60,
        "options": {"expires": 60},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- auth, i18n, files ----------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # not a rule: Django's password_changed() hook, closing the user's open consoles
    {"NAME": "handoff.access.AccessChangedOnPasswordChange"},
]
LOGIN_URL = "admin:login"

# Login throttling (django-axes, config/login_throttling.py) on every login form that goes
# through django.contrib.auth (console and admin): LOGIN_FAILURE_LIMIT failures for one
# username from one address lock that pair, LOGIN_FAILURE_LIMIT_PER_IP failures from one
# address lock it, for LOGIN_LOCKOUT_MINUTES after the last failure. A success clears the pair.
# A try refused by a lock is not recorded: it neither counts toward a limit nor extends the
# lock, so retrying one locked account cannot lock out everyone behind the same address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "config.login_throttling.LoginThrottleHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", default=10)
BATON_LOGIN_FAILURE_LIMIT_PER_IP = env_int("LOGIN_FAILURE_LIMIT_PER_IP", default=50)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "config.login_throttling.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # failures are what we keep; last_login records successes
# The client's address (config.login_throttling.client_ip_address) is REMOTE_ADDR. Behind
# reverse proxies, name the header they append the address they saw to
# (CLIENT_IP_HEADER=X-Forwarded-For) and how many proxies append to it (PROXY_COUNT): the
# address is then the PROXY_COUNT-th entry from the right, where a client cannot forge it.
AXES_CLIENT_IP_CALLABLE = "config.login_throttling.client_ip_address"
_client_ip_header = os.environ.get("CLIENT_IP_HEADER", "").strip()
BATON_CLIENT_IP_HEADER = (
    "HTTP_" + _client_ip_header.upper().replace("-", "_") if _client_ip_header else None
)
BATON_PROXY_COUNT = env_int("PROXY_COUNT", default=1)
if BATON_PROXY_COUNT < 1:
    raise ImproperlyConfigured("PROXY_COUNT must be 1 or more: the number of proxies.")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский"), ("it", "Italiano")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production images set STATIC_MANIFEST=1 and run collectstatic (hashed, compressed names);
# elsewhere (a laptop, the test suite) files are served straight from static/.
STATIC_COLLECTED = not DEBUG and env_bool(
    "STATIC_MANIFEST", default=(STATIC_ROOT / "staticfiles.json").exists()
)
WHITENOISE_USE_FINDERS = not STATIC_COLLECTED
if not STATIC_COLLECTED:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_COLLECTED
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
# Report files (XLSX) are private: served only by the download view, never as media.
REPORTS_ROOT = Path(os.environ.get("REPORTS_ROOT", VAR_DIR / "reports"))
# how long a built report file is kept before the sweep deletes it
REPORT_RETENTION_HOURS = env_int("REPORT_RETENTION_HOURS", default=72)
DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024

# --- e-mail (scheduled reports) ---------------------------------------------
# `make run` (DEBUG on) prints e-mails on the console; production sends through SMTP
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Baton <baton@localhost>")

# --- security (production values make `check --deploy` silent) -------------
X_FRAME_OPTIONS = "DENY"  # the widget frame view opts out explicitly
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("BEHIND_TLS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Baton ------------------------------------------------------------------
BATON_PUBLIC_URL = os.environ.get("BATON_PUBLIC_URL", "").rstrip("/")
BATON_WIDGET_MAX_FRAME_BYTES = env_int("BATON_WIDGET_MAX_FRAME_BYTES", default=16 * 1024)
BATON_WIDGET_MAX_TEXT_CHARS = env_int("BATON_WIDGET_MAX_TEXT_CHARS", default=4000)
# no frame of either socket needs more than three levels (frame, answers, answer)
BATON_FRAME_MAX_DEPTH = env_int("BATON_FRAME_MAX_DEPTH", default=8)
# a form has a few fields; more answers than this is not a form
BATON_WIDGET_MAX_FORM_ANSWERS = env_int("BATON_WIDGET_MAX_FORM_ANSWERS", default=50)
# token bucket per websocket: a burst of this many frames, refilled at RATE per second
BATON_WIDGET_RATE_BURST = env_int("BATON_WIDGET_RATE_BURST", default=20)
BATON_WIDGET_RATE_PER_SECOND = env_int("BATON_WIDGET_RATE_PER_SECOND", default=5)
# a dialog the bot has, with no message for this long, closes (a beat task every minute)
BATON_DIALOG_IDLE_CLOSE_HOURS = env_int("BATON_DIALOG_IDLE_CLOSE_HOURS", default=24)
# attachments (chats.services.uploads): the largest file, the largest image in pixels, and
# how many files one visitor or operator may upload per hour
BATON_UPLOAD_MAX_BYTES = env_int("BATON_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
BATON_UPLOAD_MAX_PIXELS = env_int("BATON_UPLOAD_MAX_PIXELS", default=25_000_000)
BATON_UPLOAD_PER_HOUR = env_int("BATON_UPLOAD_PER_HOUR", default=60)
# an upload no message took within this many hours is deleted (a beat task, hourly)
BATON_UPLOAD_UNATTACHED_HOURS = env_int("BATON_UPLOAD_UNATTACHED_HOURS", default=24)

# API bots' webhooks may point at loopback or private addresses (a bot on this host or
# network). Off in production (DEBUG off): Baton must not be made to call into its own
# network; on with DEBUG, and in the test suite (tests/bots/conftest.py)
BATON_WEBHOOK_ALLOW_PRIVATE = env_bool("BATON_WEBHOOK_ALLOW_PRIVATE", default=DEBUG)

# the trigger classifier: empty URL = the built-in offline classifier only
BATON_CLASSIFIER_URL = os.environ.get("BATON_CLASSIFIER_URL", "")
BATON_CLASSIFIER_MODEL = os.environ.get("BATON_CLASSIFIER_MODEL", "gpt-4o-mini")
BATON_CLASSIFIER_API_KEY = os.environ.get("BATON_CLASSIFIER_API_KEY", "")
BATON_CLASSIFIER_TIMEOUT = float(os.environ.get("BATON_CLASSIFIER_TIMEOUT", "5"))

# --- Telegram ----------------------------------------------------------------
# Bot API endpoints (tests point these at a fake server on localhost)
TELEGRAM_API_URL = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org/bot")
TELEGRAM_FILE_URL = os.environ.get("TELEGRAM_FILE_URL", "https://api.telegram.org/file/bot")
TELEGRAM_MAX_MESSAGES_PER_SECOND = float(os.environ.get("TELEGRAM_MAX_MESSAGES_PER_SECOND", "30"))
TELEGRAM_MAX_GROUP_MESSAGES_PER_MINUTE = float(
    os.environ.get("TELEGRAM_MAX_GROUP_MESSAGES_PER_MINUTE", "20")
)
TELEGRAM_PRIVATE_CHAT_INTERVAL = float(os.environ.get("TELEGRAM_PRIVATE_CHAT_INTERVAL", "1"))
TELEGRAM_CONNECT_LINK_HOURS = env_int("TELEGRAM_CONNECT_LINK_HOURS", default=24)
# the parallel bot's webhook (set through Baton's Bot API proxy) must be https, as
# Telegram requires, unless this is on (a bot on this host or network, tests)
TELEGRAM_PROXY_ALLOW_HTTP = env_bool("TELEGRAM_PROXY_ALLOW_HTTP", default=False)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["handoff.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["handoff.api.permissions.HasScope"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Baton API",
    "DESCRIPTION": "Dialogs, customers, managers, requests and API bots. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # the docs page's scripts are served from our static files: no CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # one name per choice set in the schema (several fields share them)
    "ENUM_NAME_OVERRIDES": {
        "MessengerEnum": "chats.enums.Messenger",
        "DialogStatusEnum": "chats.enums.DialogStatus",
        "RequestStatusEnum": "handoff.enums.RequestStatus",
        "PresenceEnum": "distributor.enums.Presence",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "WARNING"},
        # one INFO line per login attempt; lockouts and failures are WARNINGs
        "axes": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
        # httpx logs every request URL at INFO, and a Bot API URL contains the bot token
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # a 429 is expected and handled by the outbox (retry_after stored on the row);
        # the limiter would log each one as an error with a traceback
        "telegram.ext.AIORateLimiter": {"level": "CRITICAL"},
    },
}
