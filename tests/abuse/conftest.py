"""Redis for the rate-limit tests: the real server on 127.0.0.1:6379, database 14. Each test gets its own key
prefix and deletes only its own keys, so that test runs by several people at once do not disturb each
other."""

from __future__ import annotations

import uuid

import pytest
import redis

from tests.firstcome.hangzhou import redis_store  # noqa: F401 - fixture: the first-come claim path on Redis

REDIS_TEST_URL = "redis://127.0.0.1:6379/14"
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_db14(settings):
    client = redis.Redis.from_url(REDIS_TEST_URL)
    prefix = f"allot-test:{uuid.uuid4().hex}"
    settings.REDIS_URL = REDIS_TEST_URL
    settings.ALLOT_RATE_LIMIT_PREFIX = prefix
    yield client, prefix
    keys = client.keys(f"{prefix}:*")
    if keys:
        client.delete(*keys)
