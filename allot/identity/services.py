"""Writes for personal data: people (sealed, indexed, masked) and eligibility list imports."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.core.audit import log_action
from allot.core.errors import DomainError
from allot.core.rows import instance, row_insert
from allot.core.types import Actor
from allot.identity import crypto, validation
from allot.identity.models import EligibilityEntry, EligibilityList, Person


@dataclass(frozen=True)
class PersonInput:
    """Already-normalised identity (see ``validation``)."""

    id_number: str
    phone: str
    name: str


def id_index(id_number: str) -> str:
    return crypto.blind_index(id_number, purpose="id_number")


def phone_index(phone: str) -> str:
    return crypto.blind_index(phone, purpose="phone")


def _contact_values(data: PersonInput) -> dict[str, str]:
    """The columns a returning resident may change (phone and name): sealed, indexed, masked."""
    return {
        "phone_index": phone_index(data.phone),
        "phone_sealed": crypto.seal(data.phone, context="person.phone"),
        "phone_masked": validation.mask_phone(data.phone),
        "name_sealed": crypto.seal(data.name, context="person.name"),
        "name_masked": validation.mask_name(data.name),
    }


def person_upsert(*, data: PersonInput) -> Person:
    """Find the person by the blind index of their ID number, creating them if new; the latest phone and
    name win (a resident may change phones)."""
    idx = id_index(data.id_number)
    values = _contact_values(data)
    person = Person.objects.filter(id_index=idx).first()
    if person is None:
        person, created = Person.objects.get_or_create(
            id_index=idx,
            defaults={**values, "id_sealed": crypto.seal(data.id_number, context="person.id_number"),
                      "id_masked": validation.mask_id_number(data.id_number)})
        if created:
            return person
    changed = [k for k in ("phone_index", "name_masked") if getattr(person, k) != values[k]]
    if changed:
        for k, v in values.items():
            setattr(person, k, v)
        person.save(update_fields=[*values.keys(), "updated_at"])
    return person


# Same rule as person_upsert: the contact columns (and updated_at) change only when the phone or the name did.
UPSERT_CONFLICT = (
    "ON CONFLICT (id_index) DO UPDATE SET phone_index = excluded.phone_index, phone_sealed = excluded.phone_sealed, "
    "phone_masked = excluded.phone_masked, name_sealed = excluded.name_sealed, name_masked = excluded.name_masked, "
    f"updated_at = excluded.updated_at WHERE {Person._meta.db_table}.phone_index <> excluded.phone_index "
    f"OR {Person._meta.db_table}.name_masked <> excluded.name_masked")


def person_build(*, data: PersonInput) -> Person:
    """The unsaved row of a person: ID number and contact sealed, indexed and masked (for the hot paths that
    insert it with ``core.rows``: ``person_upsert_id`` and the group commit of first-come claims)."""
    return instance(Person, {"id_index": id_index(data.id_number),
                             "id_sealed": crypto.seal(data.id_number, context="person.id_number"),
                             "id_masked": validation.mask_id_number(data.id_number), **_contact_values(data)})


def person_upsert_id(*, data: PersonInput) -> int:
    """``person_upsert`` in one statement for hot paths (the first-come claim): ``INSERT … ON CONFLICT (id_index)
    DO UPDATE … RETURNING id``, falling back to a SELECT only for a returning resident whose phone and name are
    unchanged. Returns the person's id; same data sealed, indexed and masked, same unique index deciding."""
    person = person_build(data=data)
    idx = person.id_index
    pk = row_insert(person, on_conflict=UPSERT_CONFLICT)
    if pk is None:
        pk = Person.objects.filter(id_index=idx).values_list("pk", flat=True).get()
    return int(pk)


@dataclass
class EligibilityImport:
    added: int = 0
    already: int = 0
    errors: list[str] = field(default_factory=list)


def eligibility_import_csv(*, eligibility_list: EligibilityList, text: str, replace: bool = False,
                           actor: Actor = None) -> EligibilityImport:
    """Import ID numbers from a CSV with an ``id_number`` column. Only blind indexes are stored; the CSV
    itself is not kept. ``replace`` drops entries that are not in the new file."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if "id_number" not in (reader.fieldnames or []):
        raise DomainError(_("The CSV file needs a column named id_number."), code="csv_header", field="file")
    report = EligibilityImport()
    indexes: set[str] = set()
    for lineno, row in enumerate(reader, start=2):
        try:
            indexes.add(id_index(validation.normalize_id_number(row["id_number"] or "")))
        except DomainError as exc:
            report.errors.append(f"line {lineno}: {exc.code}")
    with transaction.atomic():
        existing = set(EligibilityEntry.objects.filter(eligibility_list=eligibility_list)
                       .values_list("id_index", flat=True))
        new = indexes - existing
        EligibilityEntry.objects.bulk_create(
            [EligibilityEntry(eligibility_list=eligibility_list, id_index=i) for i in sorted(new)],
            batch_size=2000, ignore_conflicts=True)
        if replace:
            EligibilityEntry.objects.filter(eligibility_list=eligibility_list).exclude(id_index__in=indexes).delete()
        report.added, report.already = len(new), len(indexes & existing)
        eligibility_list.size = EligibilityEntry.objects.filter(eligibility_list=eligibility_list).count()
        eligibility_list.imported_at = timezone.now()
        eligibility_list.save(update_fields=["size", "imported_at"])
        log_action("allot.eligibility.imported", obj=eligibility_list,
                   actor=actor,
                   data={"added": report.added, "already": report.already, "errors": len(report.errors),
                         "replace": replace})
    return report
