"""Concurrency tests run only in the PostgreSQL pass (`make test` second run): SQLite ignores row locks."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.fixture(autouse=True)
def _require_postgres(request):
    if request.node.get_closest_marker("django_db") and connection.vendor != "postgresql":
        pytest.fail("tests/concurrency must run on PostgreSQL (ALLOT_TEST_ON_POSTGRES=1)")
