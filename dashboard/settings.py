"""Stratus settings, read from the environment (see README.md, "Configuration")."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url
import plotly

from dashboard.code_storage import code_storage_config
from dashboard.data_dir import PRIVATE_UMASK, data_dir_create
from dashboard.env import (
    env_bool,
    env_choice,
    env_int,
    env_int_list,
    env_list,
    env_str,
    host_memory_default_mb,
    secret_in_file,
    web_processes_default,
)
from dashboard.managed_redis import managed_redis_url
from dashboard.redis_settings import redis_settings_from_env

# Nothing Stratus writes is for other users; children (redis-server, workers) inherit this.
os.umask(PRIVATE_UMASK)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = data_dir_create(Path(env_str("STRATUS_DATA_DIR", str(BASE_DIR / "var"))).resolve())

SECRET_KEY = env_str("SECRET_KEY", "") or secret_in_file(DATA_DIR / "secret_key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
# The address make run's web server listens on (STRATUS_ROLE includes api); a specific
# address is also a host name the server answers to.
STRATUS_BIND = env_str("STRATUS_BIND", "127.0.0.1")
if STRATUS_BIND not in ("0.0.0.0", "::") and STRATUS_BIND not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(f"[{STRATUS_BIND}]" if ":" in STRATUS_BIND else STRATUS_BIND)

# A wildcard DNS name under which each function URL also answers as <url-id>.<domain>.
STRATUS_FUNCTION_URL_DOMAIN = env_str("STRATUS_FUNCTION_URL_DOMAIN", "").lower().strip(".")
if STRATUS_FUNCTION_URL_DOMAIN:
    ALLOWED_HOSTS.append(f".{STRATUS_FUNCTION_URL_DOMAIN}")

# RabbitMQ brokers for event source mappings with an Amazon MQ ARN: name=amqp://...,name2=...
STRATUS_MQ_BROKERS = env_str("STRATUS_MQ_BROKERS", "")

STRATUS_REGION = env_str("STRATUS_REGION", "us-east-1")
STRATUS_ACCOUNT_ID = env_str("STRATUS_ACCOUNT_ID", "000000000000")
if not (STRATUS_ACCOUNT_ID.isdigit() and len(STRATUS_ACCOUNT_ID) == 12):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"STRATUS_ACCOUNT_ID must be 12 digits, got {STRATUS_ACCOUNT_ID!r}")
STRATUS_ACCOUNT_CONCURRENCY = env_int("STRATUS_ACCOUNT_CONCURRENCY", 1000, minimum=1)
STRATUS_REDIS_FSYNC = env_choice("STRATUS_REDIS_FSYNC", "everysec", ("everysec", "always"))
# Allowed difference between a SigV4 request's X-Amz-Date and this server's clock.
STRATUS_SIGV4_MAX_SKEW_SECONDS = env_int("STRATUS_SIGV4_MAX_SKEW_SECONDS", 15 * 60, minimum=1)

# REDIS_SENTINELS (a master Redis Sentinel names), else REDIS_URL, else the managed Redis.
REDIS = redis_settings_from_env(managed_url=lambda: managed_redis_url(DATA_DIR))
REDIS_URL = REDIS.url  # empty under Sentinel: clients come from functions_app.redis_client
REDIS_IS_MANAGED = REDIS.managed

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_rq",
    "dashboard",
    "functions_app",
    "metrics_app",
    "iam",
]

MIDDLEWARE = [
    # A view that answers without reading the body still lets the client finish sending it.
    "dashboard.middleware.UnreadBodyMiddleware",
    # A request reads the caches' token once, at its first cached lookup (dashboard.caches).
    "dashboard.caches.RequestTokenMiddleware",
    "dashboard.middleware.RequestLogMiddleware",
    # Function URLs by host name answer as the function wants, untouched by what follows.
    "functions_app.api.views_function_urls.FunctionUrlHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in user's account (iam.tenancy); the AWS APIs set the signed caller's.
    "dashboard.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that the signed caller it sets as request.user is the one views see.
    "functions_app.api.middleware.LambdaApiMiddleware",
]

# Dashboard permissions: Django's own (groups in the admin), and the user's IAM policies.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "iam.backends.IamPolicyBackend",
]

ROOT_URLCONF = "dashboard.urls"
# The Lambda API has paths like /2016-08-19/account-settings that clients send without a
# trailing slash; redirecting them would break signed requests.
APPEND_SLASH = False

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
                "dashboard.context.platform",
                "iam.web.accounts.account_nav",
            ],
        },
    },
]

ASGI_APPLICATION = "dashboard.asgi.application"
WSGI_APPLICATION = None

_default_sqlite = f"sqlite:///{DATA_DIR / 'stratus.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", "") or _default_sqlite, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the server, workers and tests read while one of them writes; IMMEDIATE
    # transactions take the write lock up front instead of failing half-way with "locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-stratus.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database host that stops answering is an error within seconds, not a hang: connecting
    # gives up after 5 s, and TCP keepalives find a dead connection in about 30 s (unless the
    # URL's query string says otherwise: ?connect_timeout=10).
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    for _name, _value in {
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 4,
    }.items():
        _options.setdefault(_name, _value)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
# plotly.js is served from the plotly package itself, not copied into the repository.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/plotly", Path(plotly.__file__).resolve().parent / "package_data"),
]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)

# Code artifacts go through Django's storage API: in the database by default, so hosts that
# share no disk all reach them; or S3 (dashboard/code_storage.py).
STRATUS_CODE_STORAGE = env_str("STRATUS_CODE_STORAGE", "database")
STRATUS_S3_ENDPOINT_URL = env_str("STRATUS_S3_ENDPOINT_URL", "")
STORAGES = {
    "default": code_storage_config(
        STRATUS_CODE_STORAGE, data_dir=str(DATA_DIR), endpoint_url=STRATUS_S3_ENDPOINT_URL
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Django's file storages chmod what they save (0644 by default, whatever the umask).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# A CreateFunction body carries a base64 zip of up to 50 MB, so about 70 MB of JSON. The
# Lambda API middleware enforces AWS's own limits per operation before Django reads the body.
DATA_UPLOAD_MAX_MEMORY_SIZE = 80 * 1024 * 1024

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Live updates travel from the metrics consumer to the websocket server through Redis.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS.channel_layer_host()], "prefix": "stratus:channels:"},
    }
}

# Metrics and history retention.
STRATUS_METRICS_RETENTION_DAYS = {
    60: env_int("STRATUS_METRICS_RETENTION_1M_DAYS", 15, minimum=1),
    300: env_int("STRATUS_METRICS_RETENTION_5M_DAYS", 63, minimum=1),
    3600: env_int("STRATUS_METRICS_RETENTION_1H_DAYS", 455, minimum=1),
}
# Request and response payloads kept with each invocation (0 keeps none).
STRATUS_PAYLOAD_CAPTURE_BYTES = env_int("STRATUS_PAYLOAD_CAPTURE_BYTES", 4096, minimum=0)
STRATUS_INVOCATION_RETENTION_DAYS = env_int("STRATUS_INVOCATION_RETENTION_DAYS", 14, minimum=1)
STRATUS_LOG_RETENTION_DAYS = env_int("STRATUS_LOG_RETENTION_DAYS", 30, minimum=1)

RQ_QUEUES = {
    "default": {**REDIS.rq_connection(), "DEFAULT_TIMEOUT": 960},
    "invocations": {**REDIS.rq_connection(), "DEFAULT_TIMEOUT": 960},
}

# Workers and their execution environments.
# A host holds as many environments as fit in this much memory, each counted by its
# function's MemorySize (default: 75 % of the machine's memory).
STRATUS_HOST_MEMORY_MB = env_int("STRATUS_HOST_MEMORY_MB", host_memory_default_mb(), minimum=128)
# Web server processes `make run` starts (uvicorn's workers).
STRATUS_WEB_PROCESSES = env_int("STRATUS_WEB_PROCESSES", web_processes_default(), minimum=1)
# RQ workers (threads of the host process) that run asynchronous events.
STRATUS_ASYNC_WORKERS = env_int("STRATUS_ASYNC_WORKERS", 8, minimum=1)
STRATUS_ENV_IDLE_SECONDS = env_int("STRATUS_ENV_IDLE_SECONDS", 600, minimum=1)
# Asynchronous invocation: a function error is retried after 1x, then 2x this delay.
STRATUS_ASYNC_RETRY_BASE_SECONDS = env_int("STRATUS_ASYNC_RETRY_BASE_SECONDS", 60, minimum=0)
# Delays before each retry of a destination, dead-letter or topic delivery (seconds).
STRATUS_DELIVERY_RETRY_SECONDS = env_int_list("STRATUS_DELIVERY_RETRY_SECONDS", [1, 5, 30], minimum=0)
STRATUS_SANDBOX = env_choice("STRATUS_SANDBOX", "on", ("on", "off"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "stream": sys.stderr, "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env_str("STRATUS_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
    },
}

# WhiteNoise finds files in static/ directly, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
