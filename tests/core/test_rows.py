"""core.rows writes the same column values as the ORM (its fast paths for text, integers and UTC datetimes
included), on SQLite here and on PostgreSQL in the PostgreSQL pass."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from allot.core.models import AuditLog
from allot.core.rows import row_insert, rows_insert
from allot.identity.models import Person


def _raw(table: str, pk: int) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608 (test table name)
        return cursor.fetchone()


def _check_same_as_orm() -> None:
    at = dt.datetime(2026, 2, 3, 4, 5, 6, 789, tzinfo=dt.UTC)
    orm = AuditLog.objects.create(action="a.b", actor_label="x", object_type="t", object_id="7", data={"k": 1})
    AuditLog.objects.filter(pk=orm.pk).update(created_at=at)
    fast = AuditLog(action="a.b", actor_label="x", object_type="t", object_id="7", data={"k": 1})
    row_insert(fast)
    AuditLog.objects.filter(pk=fast.pk).update(created_at=at)
    assert _raw(AuditLog._meta.db_table, orm.pk)[1:] == _raw(AuditLog._meta.db_table, fast.pk)[1:]

    # a datetime that goes through the fast path (aware, UTC) reads back equal
    people = [Person(id_index=f"i{n}", id_sealed="s", id_masked="m", phone_index="p", phone_sealed="s",
                     phone_masked="m", name_sealed="s", name_masked="n") for n in range(3)]
    done = rows_insert(people, match="id_index")
    assert [p.pk is not None for p in done] == [True] * 3
    for p in people:
        stored = Person.objects.get(pk=p.pk)
        assert stored.created_at == p.created_at and stored.created_at.tzinfo is not None
        assert stored.id_index == p.id_index


@pytest.mark.django_db
def test_rows_write_what_the_orm_writes():
    _check_same_as_orm()


@pytest.mark.postgres
@pytest.mark.django_db
def test_rows_write_what_the_orm_writes_on_postgresql():
    assert connection.vendor == "postgresql"
    _check_same_as_orm()


def _attrs(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_instance_builds_what_the_model_s_constructor_builds():
    from allot.campaigns.models import Campaign
    from allot.core.rows import instance
    from allot.delivery.models import Parcel
    from allot.firstcome.models import Claim

    at = dt.datetime(2026, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    campaign = Campaign(pk=5, slug="s")
    values = {"campaign_id": 5, "quota_id": 9, "day": at.date(), "number": "N1", "scope_key": "city",
              "district_id": "330106", "outlet_id": None, "units": 5, "consent_version": "v1", "consent_at": at}
    built = instance(Claim, values, related={"campaign": campaign})
    made = Claim(**values)
    assert _attrs(built) == _attrs(made)
    assert built._state.adding and built._state.db is None
    assert built.campaign is campaign          # the related object cached, as Claim(campaign=…) caches it
    # defaults: constant ones and those a callable gives, each instance its own
    p1, p2 = instance(Parcel, {"number": "P1"}), instance(Parcel, {"number": "P2"})
    assert _attrs(p1) == {**_attrs(Parcel(number="P1"))}
    assert p1.status == Parcel.Status.CREATED and p1.status_note == "" and p1.courier_id is None
    a1, a2 = instance(AuditLog, {"action": "x"}), instance(AuditLog, {"action": "y"})
    assert a1.data == {} and a1.data is not a2.data
    assert p2.number == "P2"


def test_json_row_gives_a_batch_one_instant():
    from allot.core.rows import json_row

    at = dt.datetime(2026, 2, 3, 4, 5, 6, 789, tzinfo=dt.UTC)
    person = Person(id_index="i", id_sealed="s", id_masked="m", phone_index="p", phone_sealed="s",
                    phone_masked="m", name_sealed="s", name_masked="n")
    row = json_row(person, now=at)
    assert row["created_at"] == row["updated_at"] == at.isoformat()
    assert person.created_at == at       # set on the object, as pre_save sets it
