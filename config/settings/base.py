"""Settings shared by every environment. Every value that differs between deployments comes from the
environment (django-environ); nothing secret lives in code."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "ninja",  # serves Swagger UI from static files (no CDN, no inline script: CSP)
    "allot.core",
    "allot.staff",
    "allot.privacy",
    "allot.places",
    "allot.identity",
    "allot.campaigns",
    "allot.registrations",
    "allot.draws",
    "allot.pickup",
    "allot.firstcome",
    "allot.delivery",
    "allot.portal",
    "allot.backoffice",
    "allot.api",
    "allot.worker",
    "allot.verification",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "allot.core.security.SecurityHeadersMiddleware",
    "allot.core.admission.AdmissionMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "allot.staff.middleware.StaffSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# Database: SQLite (WAL, immediate transactions) embedded by default; DATABASE_URL=postgres://… switches.
DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'allot.sqlite3'}")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=20000;"
                "PRAGMA foreign_keys=ON;"
            ),
        }
    )
    # Keep each thread's connection: opening one (the PRAGMAs) and closing it (a WAL checkpoint when it is the
    # last) cost ~1–2 ms per request, a third of a first-come claim (bench/README.md).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.bool("DATABASE_POOL", default=False):  # psycopg pool per process: threads (gthread) share connections
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 2, "max_size": env.int("DATABASE_POOL_SIZE", default=8), "timeout": 10}
        DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
ALLOT_ADMISSION_MAX_IN_FLIGHT = env.int("ALLOT_ADMISSION_MAX_IN_FLIGHT", default=12)  # claim requests per process
# Retry-After of the plain busy answer: seconds, drawn uniformly between the two (bench/README.md)
ALLOT_ADMISSION_RETRY_AFTER = tuple(env.list("ALLOT_ADMISSION_RETRY_AFTER", cast=int, default=[2, 6]))
# residents one process told busy that may be booked to come back in any one second (allot/core/waitroom.py Returns)
ALLOT_ADMISSION_BUSY_BUDGET = env.int("ALLOT_ADMISSION_BUSY_BUDGET", default=500)
# first-come claims: channels that must carry a solved proof of work; rate limits as JSON overriding the defaults
# of allot/verification/ratelimit.py, e.g. {"claim": {"ip": [300, 3600]}}; how often the write-behind buffer of
# counts and spent proofs is written (no Redis); proof-of-work difficulty
ALLOT_CLAIM_PROOF_CHANNELS = env.list("ALLOT_CLAIM_PROOF_CHANNELS", default=["web", "api"])
ALLOT_RATE_LIMITS = {scope: {kind: tuple(v) for kind, v in kinds.items()}
                     for scope, kinds in env.json("ALLOT_RATE_LIMITS", default={}).items()}
ALLOT_WRITE_BEHIND_SECONDS = env.float("ALLOT_WRITE_BEHIND_SECONDS", default=1.0)
ALLOT_ALTCHA_MAX_NUMBER = env.int("ALLOT_ALTCHA_MAX_NUMBER", default=50_000)
# group commit of first-come claims (allot/firstcome/writer.py, docs/adr/0009-group-commit.md)
ALLOT_CLAIM_GROUP_COMMIT = env.bool("ALLOT_CLAIM_GROUP_COMMIT", default=True)
# admitted API claims answered in front of Django (allot/api/v1/claim_fast.py, ADR 0010)
ALLOT_API_FAST_CLAIM = env.bool("ALLOT_API_FAST_CLAIM", default=True)
# the claim lane of config/asgi.py (allot/api/v1/claim_lane.py, ADR 0012): claims per process waiting in it before
# the next is answered busy; threads per process that run Django behind it
ALLOT_LANE_MAX_IN_FLIGHT = env.int("ALLOT_LANE_MAX_IN_FLIGHT", default=48)
# ... and how late (ms) its event loop may run before new claims are answered busy at once
ALLOT_LANE_MAX_LAG_MS = env.float("ALLOT_LANE_MAX_LAG_MS", default=100)
# ... and, while it refuses claims, it holds only as many as it answered in this long (ms; measured over each 100 ms).
# On SQLite a claim also waits for its process's turn at the file, which holding fewer claims does not shorten:
# 50 ms kept the lane near its floor there and refused claims the box could take (bench/README.md, eleventh session)
ALLOT_LANE_TARGET_MS = env.float(
    "ALLOT_LANE_TARGET_MS", default=150 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 50)
# ... and never fewer than this; also what it starts from, at a process's first claim and after a second without one
# (then at most twice as many every 100 ms)
ALLOT_LANE_MIN_IN_FLIGHT = env.int("ALLOT_LANE_MIN_IN_FLIGHT", default=8)
ALLOT_WSGI_THREADS = env.int("ALLOT_WSGI_THREADS", default=14)
# ... and, on PostgreSQL with Redis, its claims written on its own event loop (allot/firstcome/loop_writer.py)
ALLOT_LANE_LOOP_WRITER = env.bool("ALLOT_LANE_LOOP_WRITER", default=True)
# ... and the units left (GET remaining.json, the API's claims/remaining) answered from a copy of Django's answer
# for up to this many seconds (0: every one by Django)
ALLOT_LANE_CACHE_SECONDS = env.float("ALLOT_LANE_CACHE_SECONDS", default=1.0)
# The serving processes' garbage collector (config/wsgi.py, config/asgi.py): what is loaded at start-up frozen, and
# a young generation collected every this many allocations, not 700 ("" keeps Python's defaults; ADR 0012)
ALLOT_GC_THRESHOLDS = env.str("ALLOT_GC_THRESHOLDS", default="50000,20,100")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/staff/login/"
LOGIN_REDIRECT_URL = "/staff/"
# Staff accounts: password lockout with backoff (allot.staff.backends), TOTP for operators/notaries (django-otp),
# idle and absolute session timeouts (allot.staff.middleware).
AUTHENTICATION_BACKENDS = ["allot.staff.backends.LockoutModelBackend"]
ALLOT_STAFF_IDLE_SECONDS = env.int("ALLOT_STAFF_IDLE_SECONDS", default=30 * 60)
ALLOT_STAFF_ABSOLUTE_SECONDS = env.int("ALLOT_STAFF_ABSOLUTE_SECONDS", default=8 * 3600)
OTP_TOTP_ISSUER = env.str("ALLOT_OTP_ISSUER", default="allot")

# Time: stored in UTC, shown in the campaign's zone.
USE_TZ = True
TIME_ZONE = env.str("ALLOT_DISPLAY_TIME_ZONE", default="Asia/Shanghai")

# Language: zh-Hans first, English available.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "allot" / "locale"]

STATIC_URL = "/static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = env.path("ALLOT_MEDIA_ROOT", default=str(VAR_DIR / "media"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("ALLOT_SESSION_SECONDS", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Personal data keys (see docs/adr/0004-identity-storage.md). 32 bytes each, base64 (urlsafe) encoded.
# ALLOT_BLIND_INDEX_KEY keys the HMAC blind index used for lookup and de-duplication;
# ALLOT_DATA_KEYS is "keyid:base64key,…" for AES-256-GCM; the first one encrypts, all decrypt (rotation).
ALLOT_BLIND_INDEX_KEY = env.str("ALLOT_BLIND_INDEX_KEY")
ALLOT_DATA_KEYS = env.str("ALLOT_DATA_KEYS")

# Where published draw bundles are written (served at /draws/<id>/…).
ALLOT_BUNDLE_ROOT = env.path("ALLOT_BUNDLE_ROOT", default=str(VAR_DIR / "bundles"))
# A demo or test deployment may use a local, clearly marked synthetic beacon instead of drand.
ALLOT_ALLOW_SYNTHETIC_BEACON = env.bool("ALLOT_ALLOW_SYNTHETIC_BEACON", default=False)
ALLOT_DEMO = False  # the local (demo) settings turn on demo-only helpers such as `manage.py demo_totp`
# SMS: "logging" (default: no gateway, nothing sent), "console" (demo: texts printed to the worker log), or a
# dotted path to an allot.verification.sms.SmsSender.
ALLOT_SMS_BACKEND = env.str("ALLOT_SMS_BACKEND", default="logging")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"personal_data": {"()": "allot.core.logging.PersonalDataFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["personal_data"]}},
    "root": {"handlers": ["console"], "level": env.str("ALLOT_LOG_LEVEL", default="INFO")},
}

# Virtual waiting room of the claim endpoints (allot.core.waitroom, docs/adr/0008-waiting-room.md): past the
# in-flight cap a claim gets 503 with a signed ticket (its place in line) instead of a bare "try again".
ALLOT_WAITROOM = env.bool("ALLOT_WAITROOM", default=False)
ALLOT_WAITROOM_TOKEN_SECONDS = env.int("ALLOT_WAITROOM_TOKEN_SECONDS", default=300)  # a ticket's lifetime
ALLOT_WAITROOM_RETRY_AFTER = (env.int("ALLOT_WAITROOM_RETRY_AFTER_MIN", default=1),  # Retry-After clamp, seconds
                              env.int("ALLOT_WAITROOM_RETRY_AFTER_MAX", default=30))
# one waiting line for all app processes, through Redis (REDIS_URL); off: a line per process (bench/README.md)
ALLOT_WAITROOM_SHARED = env.bool("ALLOT_WAITROOM_SHARED", default=False)
ALLOT_WAITROOM_MIN_RATE = env.float("ALLOT_WAITROOM_MIN_RATE", default=5.0)  # floor of the capacity estimate, req/s
