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
