"""``person_upsert`` and its one-statement variant ``person_upsert_id`` (the first-come claim path) keep the same
rule: one person per ID number (its blind index), sealed, indexed and masked; the latest phone and name win."""

from __future__ import annotations

import pytest

from allot.identity import crypto, validation
from allot.identity.models import Person
from allot.identity.services import PersonInput, id_index, person_upsert, person_upsert_id, phone_index
from tests.conftest import make_id_number, make_phone

pytestmark = pytest.mark.django_db


def person(n: int = 1, *, phone: int | None = None, name: str = "张三") -> PersonInput:
    return PersonInput(id_number=make_id_number(seq=n), phone=make_phone(phone or n), name=name)


def test_a_new_person_is_stored_sealed_indexed_and_masked():
    # given
    data = person(1)

    # when
    pk = person_upsert_id(data=data)

    # then
    p = Person.objects.get(pk=pk)
    assert p.id_index == id_index(data.id_number)
    assert p.phone_index == phone_index(data.phone)
    assert crypto.unseal(p.id_sealed, context="person.id_number") == data.id_number
    assert crypto.unseal(p.phone_sealed, context="person.phone") == data.phone
    assert crypto.unseal(p.name_sealed, context="person.name") == "张三"
    assert data.id_number not in (p.id_masked + p.phone_masked + p.name_masked)
    assert (p.id_masked, p.phone_masked, p.name_masked) == (
        validation.mask_id_number(data.id_number), validation.mask_phone(data.phone), validation.mask_name("张三"))
    assert p.created_at is not None and p.updated_at is not None


def test_the_same_id_number_is_the_same_person_whichever_variant_created_it():
    # given
    first = person_upsert(data=person(2)).pk

    # when
    again = person_upsert_id(data=person(2))
    other = person_upsert_id(data=person(3))

    # then
    assert again == first
    assert other != first
    assert Person.objects.count() == 2
    assert person_upsert(data=person(3)).pk == other


def test_a_returning_resident_with_a_new_phone_and_name_is_updated_and_keeps_the_id_number():
    # given
    pk = person_upsert_id(data=person(4))
    before = Person.objects.get(pk=pk)

    # when
    again = person_upsert_id(data=person(4, phone=99, name="李四"))

    # then
    after = Person.objects.get(pk=pk)
    assert again == pk
    assert after.phone_index == phone_index(make_phone(99))
    assert crypto.unseal(after.phone_sealed, context="person.phone") == make_phone(99)
    assert crypto.unseal(after.name_sealed, context="person.name") == "李四"
    assert after.id_sealed == before.id_sealed and after.id_masked == before.id_masked
    assert after.updated_at >= before.updated_at


def test_a_returning_resident_with_the_same_phone_and_name_is_not_rewritten():
    # given
    pk = person_upsert_id(data=person(5))
    before = Person.objects.get(pk=pk)

    # when
    again = person_upsert_id(data=person(5))

    # then
    after = Person.objects.get(pk=pk)
    assert again == pk
    assert (after.phone_sealed, after.name_sealed, after.updated_at) == (
        before.phone_sealed, before.name_sealed, before.updated_at)
