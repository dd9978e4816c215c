"""A small Hangzhou for first-come and delivery tests, built through the real services. Street and committee
names are real; their codes are synthetic (the pattern of the statistical codes, not the real values)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import make_id_number, make_phone

SLUG = "hangzhou-masks"
REDIS_TEST_URL = "redis://127.0.0.1:6379/15"   # a Redis database number used only by tests
REDIS_DOWN_URL = "redis://127.0.0.1:6390/0"    # nothing listens there: a real refusal

PLACES = """district_code,street_code,street_name,committee_code,committee_name
330106,330106001000,北山街道,330106001001,北山社区
330106,330106001000,北山街道,330106001002,曙光社区
330106,330106004000,西溪街道,330106004001,文三社区
330102,330102001000,湖滨街道,330102001001,东坡路社区
330114,330114001000,下沙街道,330114001001,下沙社区
"""


def build_hangzhou(*, quota: int | None = 3, scope: str = "city", fulfilment: str = "delivery",
                   opens_at: dt.time = dt.time(0, 0), starts_on: dt.date | None = None, slug: str = SLUG) -> Any:
    from allot.campaigns.models import Campaign
    from allot.places.models import Division
    from allot.places.services import divisions_import, places_import_csv

    if not Division.objects.filter(code="3301").exists():
        divisions_import(province_code="33")
        places_import_csv(text=PLACES)
    return Campaign.objects.create(
        slug=slug, name="杭州市口罩先到先得", good="一次性医用口罩", units_per_winner=5, city_id="3301",
        status=Campaign.Status.ACTIVE, starts_on=starts_on or dt.date(2020, 1, 1), mode=Campaign.Mode.FIRST_COME,
        fulfilment=fulfilment, opens_at=opens_at, quota_scope=scope, daily_quota=quota, maintenance_start=None,
        maintenance_end=None, beacon_kind=Campaign.Beacon.SYNTHETIC)


def claim_request(n: int = 1, **over: Any) -> Any:
    from allot.firstcome.services import ClaimRequest

    data: dict[str, Any] = {
        "name": "王五", "id_number": make_id_number(region="330106", seq=n), "phone": make_phone(n),
        "district": "330106", "street": "330106001000", "committee": "330106001001", "building": "3",
        "unit": "2", "room": "301", "line": "", "consent": True}
    data.update(over)
    return ClaimRequest(**data)


def claim_body(n: int = 1, **over: Any) -> dict[str, Any]:
    """What the claim page and the claim API receive: the fields of ``claim_request`` and a freshly solved proof
    of work (``altcha``; pass ``altcha=""`` to leave it out)."""
    from dataclasses import asdict

    from tests.abuse.proof import solved

    altcha = over.pop("altcha", None)
    body = asdict(claim_request(n, **over))
    body["altcha"] = solved("claim") if altcha is None else altcha
    return body


def clear_caches() -> None:
    from django.core.cache import cache

    from allot.delivery.addresses import gazetteer_clear
    from allot.firstcome.selectors import caches_clear
    from allot.verification.buffer import write_behind

    caches_clear()
    gazetteer_clear()
    cache.clear()
    write_behind().reset()  # rate counts and redeemed proofs not yet written belong to the test that made them


@pytest.fixture
def hangzhou(db):
    return build_hangzhou()


@pytest.fixture
def redis_store(settings):
    """The Redis path, on a Redis database number only tests use; emptied before and after."""
    import redis

    settings.REDIS_URL = REDIS_TEST_URL
    r = redis.Redis.from_url(REDIS_TEST_URL)
    r.flushdb()
    yield r
    r.flushdb()
    r.close()


def redis_gone(settings: Any) -> None:
    """Redis, for the claim path and the cache, at an address where nothing listens (a real refusal)."""
    settings.REDIS_URL = REDIS_DOWN_URL
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": REDIS_DOWN_URL}}


@contextlib.contextmanager
def claim_unique_constraint_dropped() -> Iterator[None]:
    """The guard of one claim per person and campaign day removed, to show the race it stops; restored after
    (the claims written meanwhile are deleted first: they may break it)."""
    from django.db import connection

    from allot.delivery.models import Parcel
    from allot.firstcome.models import Claim

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE firstcome_claim DROP CONSTRAINT one_claim_per_person_day")
    try:
        yield
    finally:
        Parcel.objects.all().delete()
        Claim.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE firstcome_claim ADD CONSTRAINT one_claim_per_person_day "
                           "UNIQUE (campaign_id, day, person_id)")
