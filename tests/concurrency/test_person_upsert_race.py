"""One new resident upserted from 30 connections at once (``person_upsert_id``: INSERT … ON CONFLICT on
PostgreSQL) is one row, and every caller gets its id."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from allot.identity.models import Person
from allot.identity.services import PersonInput, person_upsert_id
from tests.conftest import make_id_number, make_phone

THREADS = 30


@pytest.mark.django_db(transaction=True)
def test_parallel_upserts_of_one_new_person_give_one_row_and_one_id():
    # given
    barrier, ids, errors = threading.Barrier(THREADS), [], []

    def upsert(n: int) -> None:
        try:
            barrier.wait()
            # half of them with another phone: the ON CONFLICT update path races the insert path
            ids.append(person_upsert_id(data=PersonInput(id_number=make_id_number(seq=7), phone=make_phone(n % 2),
                                                         name="王五")))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=upsert, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then
    assert errors == []
    assert Person.objects.count() == 1
    assert set(ids) == {Person.objects.get().pk}
