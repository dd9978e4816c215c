from __future__ import annotations

import pytest

from tests.firstcome.hangzhou import clear_caches, hangzhou, redis_store  # noqa: F401 - fixtures
from tests.firstcome.lane import plain, served  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def _fresh_caches():
    """The claim path caches campaigns, quota ids, places and sold-out flags per process."""
    clear_caches()
    yield
    clear_caches()
