"""A first-come claim's transaction writes into every index of the person, claim, parcel and audit tables (and,
without Redis, its rate counters through the write-behind buffer): they hold only the indexes something reads, and
on PostgreSQL no second (LIKE) index of a text column (bench/README.md, twelfth session: the six FK indexes dropped
were a quarter of the transaction's time on SQLite)."""

from __future__ import annotations

import pytest
from django.db import connection

from allot.core.models import AuditLog
from allot.delivery.models import Parcel
from allot.firstcome.models import Claim
from allot.identity.models import Person
from allot.verification.models import RateCounter, UsedChallenge

EXPECTED: dict[type, list[tuple[str, ...]]] = {
    Person: [("id",), ("id_index",), ("phone_index",)],
    Claim: [("id",), ("number",), ("campaign_id", "day", "person_id"), ("person_id",), ("quota_id",)],
    Parcel: [("id",), ("claim_id",), ("number",), ("district_id",), ("courier_id", "district_id"),
             ("status", "unit_returned_at")],
    AuditLog: [("id",), ("created_at",), ("action",), ("actor_id",), ("object_type", "object_id")],
    RateCounter: [("id",), ("key",), ("expires_at",)],
    UsedChallenge: [("digest",), ("expires_at",)],
}


def _indexes(model: type) -> list[tuple[str, ...]]:
    """The columns of each index of the model's table, one entry per index (an index twice: two entries)."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return sorted(tuple(c["columns"]) for c in found.values() if c["index"] or c["unique"] or c["primary_key"])


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(EXPECTED), ids=lambda m: m.__name__)
def test_the_tables_a_claim_writes_hold_only_the_indexes_that_are_read(model):
    assert _indexes(model) == sorted(EXPECTED[model])


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("model", list(EXPECTED), ids=lambda m: m.__name__)
def test_on_postgresql_they_hold_the_same_and_no_like_index(model):
    assert connection.vendor == "postgresql"
    assert _indexes(model) == sorted(EXPECTED[model])
