"""Settings for the test suite. Keys here are test-only constants, never used by a deployment."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("ALLOT_BLIND_INDEX_KEY", "dGVzdC1vbmx5LWJsaW5kLWluZGV4LWtleS0zMmJ5dGU=")
os.environ.setdefault("ALLOT_DATA_KEYS", "t1:dGVzdC1vbmx5LWFlcy1nY20ta2V5LTMyLWJ5dGVzISE=")

from .base import *  # noqa: F403

ALLOT_ALLOW_SYNTHETIC_BEACON = True
ALLOT_ALTCHA_MAX_NUMBER = 8  # proof of work stays real but takes at most 8 hashes in tests
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# `make test` runs the suite twice: on SQLite, then the tests marked `postgres` on PostgreSQL.
if env.bool("ALLOT_TEST_ON_POSTGRES", default=False):  # noqa: F405
    DATABASES = {"default": env.db_url_config(  # noqa: F405
        env.str("ALLOT_TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/test"))}  # noqa: F405

WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
os.makedirs(str(STATIC_ROOT), exist_ok=True)  # noqa: F405
