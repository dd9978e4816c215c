"""Writes for delivery: parcels, courier keys, manifests (assignment + export) and courier status reports."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.core.audit import log_action
from allot.core.codes import random_code
from allot.core.errors import DomainError, ValidationFailed
from allot.core.rows import instance
from allot.core.types import Actor
from allot.delivery.addresses import Address, building_label, room_label, unit_label
from allot.delivery.models import COLUMN_KEYS, STATUS_RANK, TERMINAL, Courier, Parcel, ParcelEvent
from allot.identity import crypto

PARCEL_NUMBER_LENGTH = 10
KEY_PREFIX = "ck_"


def parcel_create(*, claim: Any, address: Address) -> Parcel:
    """The parcel of an accepted claim, created in the claim's transaction."""
    parcel = parcel_build(claim=claim, address=address)
    parcel.save(force_insert=True)
    return parcel


def parcel_build(*, claim: Any, address: Address) -> Parcel:
    """The unsaved parcel of an accepted claim (``parcel_create`` saves it; the claim path inserts it with
    ``core.rows.row_insert``)."""
    parcel = instance(Parcel, {
        "number": random_code(PARCEL_NUMBER_LENGTH), "district_id": address.district_code,
        "street_id": address.street_id, "committee_id": address.committee_id, "building": address.building,
        "unit": address.unit, "room": address.room, "line": address.line})
    parcel.claim = claim   # the descriptor: the claim's id (once it has one) and both sides' caches
    return parcel


# --- courier keys ---------------------------------------------------------------------------------------

def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def courier_key_issue(*, courier: Courier, actor: Actor = None) -> str:
    """A new API key for the courier (the previous one stops working). Shown once; only its hash is kept."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    courier.key_hash, courier.key_issued_at = _key_hash(key), timezone.now()
    courier.save(update_fields=["key_hash", "key_issued_at"])
    log_action("allot.delivery.courier_key_issued", obj=courier, actor=actor, data={"courier": courier.code})
    return key


def courier_for_key(key: str) -> Courier | None:
    if not key.startswith(KEY_PREFIX):
        return None
    return Courier.objects.filter(key_hash=_key_hash(key), active=True).first()


def courier_columns_set(*, courier: Courier, columns: list[list[str]], actor: Actor = None) -> Courier:
    bad = [c for c in columns if not (isinstance(c, list | tuple) and len(c) == 2 and c[0] in COLUMN_KEYS)]
    if not columns or bad:
        raise DomainError(_("Each column is a [key, header] pair with a known key: %(keys)s.") % {
            "keys": ", ".join(sorted(COLUMN_KEYS))}, code="columns_invalid", field="columns")
    courier.columns = [[str(k), str(h)] for k, h in columns]
    courier.save(update_fields=["columns"])
    log_action("allot.delivery.columns_set", obj=courier, actor=actor, data={"columns": courier.columns})
    return courier


# --- manifests ------------------------------------------------------------------------------------------

def _manifest_parcels(*, courier: Courier, day: dt.date, district_code: str | None) -> QuerySet[Parcel]:
    qs = Parcel.objects.filter(claim__day=day)
    if district_code:
        qs = qs.filter(district_id=district_code)
    return qs


def manifest_assign(*, courier: Courier, day: dt.date, district_code: str | None = None,
                    actor: Actor = None) -> int:
    """Give the courier the day's unassigned parcels in its districts (or in one of them) and mark them handed
    over. A parcel already given to another courier stays with it. Returns how many were newly assigned."""
    districts = set(courier.districts.values_list("code", flat=True))
    if district_code and district_code not in districts:
        raise DomainError(_("This courier does not deliver to district %(code)s.") % {"code": district_code},
                          code="district_not_served", field="district", status=403)
    with transaction.atomic():
        qs = _manifest_parcels(courier=courier, day=day, district_code=district_code).filter(
            courier__isnull=True, district_id__in=districts)
        n = qs.update(courier=courier, status=Parcel.Status.MANIFESTED, updated_at=timezone.now())
        if n:
            log_action("allot.delivery.manifest_assigned", obj=courier, actor=actor,
                       data={"day": day.isoformat(), "district": district_code, "parcels": n})
    return n


def manifest_rows(*, courier: Courier, day: dt.date, district_code: str | None = None,
                  actor: Actor = None) -> list[dict[str, str]]:
    """The courier's parcels of the day as rows keyed by column key. Opens the recipients' names and phones
    (sealed data): logged as a reveal with the count, never the values."""
    parcels = list(_manifest_parcels(courier=courier, day=day, district_code=district_code)
                   .filter(courier=courier)
                   .select_related("claim__person", "claim__campaign__city__parent", "district", "street",
                                   "committee")
                   .order_by("district_id", "street__code", "committee__code", "building", "unit", "room", "pk"))
    rows = []
    for p in parcels:
        person, campaign = p.claim.person, p.claim.campaign
        city = campaign.city
        address = Address(district_code=p.district_id, district_name=p.district.name, street_id=p.street_id,
                          street_name=p.street.name if p.street else "", committee_id=p.committee_id,
                          committee_name=p.committee.name if p.committee else "", building=p.building,
                          unit=p.unit, room=p.room, line=p.line)
        rows.append({
            "parcel": p.number,
            "recipient": crypto.unseal(person.name_sealed, context="person.name"),
            "phone": crypto.unseal(person.phone_sealed, context="person.phone").removeprefix("+86"),
            "province": city.parent.name if city.parent else "",
            "city": city.name,
            "district": p.district.name,
            "street": address.street_name,
            "committee": address.committee_name,
            "building": building_label(p.building),
            "unit": unit_label(p.unit),
            "room": room_label(p.room),
            "line": p.line,
            "address": address.one_line(city.name),
            "good": campaign.good,
            "quantity": str(p.claim.units),
            "claim": p.claim.number,
            "day": p.claim.day.isoformat(),
        })
    log_action("allot.delivery.manifest_exported", obj=courier, actor=actor,
               data={"day": day.isoformat(), "district": district_code, "parcels": len(rows),
                     "revealed": ["name", "phone"]})
    return rows


def manifest_csv(*, rows: Iterable[dict[str, str]], columns: list[list[str]]) -> bytes:
    """CSV in the courier's columns, UTF-8 with a BOM (Excel on Windows opens it as UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for _key, header in columns])
    for row in rows:
        writer.writerow([_cell(row.get(key, "")) for key, _header in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value: str) -> str:
    """No spreadsheet formulas from data (CSV injection): a leading = + - @ gets a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def manifest_xlsx(*, rows: Iterable[dict[str, str]], columns: list[list[str]], title: str = "manifest") -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_numbers": False, "strings_to_urls": False})
    sheet = book.add_worksheet(title[:31])
    bold = book.add_format({"bold": True})
    text = book.add_format({"num_format": "@"})
    for c, (_key, header) in enumerate(columns):
        sheet.write_string(0, c, header, bold)
        sheet.set_column(c, c, 14, text)
    for r, row in enumerate(rows, start=1):
        for c, (key, _header) in enumerate(columns):
            sheet.write_string(r, c, row.get(key, ""))
    sheet.freeze_panes(1, 0)
    book.close()
    return buffer.getvalue()


# --- status reports from couriers -----------------------------------------------------------------------

@dataclass(frozen=True)
class StatusReport:
    parcel: str
    status: str
    at: dt.datetime
    event_id: str = ""
    note: str = ""


@dataclass(frozen=True)
class StatusOutcome:
    parcel: str
    result: str   # applied | duplicate | stale | terminal | unknown_parcel (also: another courier's) | invalid
    status: str   # the parcel's status afterwards ('' when unknown)


def _event_id(report: StatusReport) -> str:
    if report.event_id:
        return report.event_id[:64]
    raw = f"{report.parcel}|{report.status}|{report.at.isoformat()}"
    return "h:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _check(report: StatusReport) -> None:
    if report.status not in STATUS_RANK or report.status == Parcel.Status.CREATED:
        raise ValidationFailed([_field("status", "status_invalid", _(
            "Unknown status; use one of manifested, picked_up, out_for_delivery, delivered, undeliverable."))])
    if timezone.is_naive(report.at):
        raise ValidationFailed([_field("at", "at_naive", _("Give the time with its offset, e.g. +08:00."))])
    if report.at > timezone.now() + dt.timedelta(minutes=10):
        raise ValidationFailed([_field("at", "at_in_future", _("The time of the event is in the future."))])


def _field(name: str, code: str, message: Any) -> Any:
    from allot.core.errors import FieldError

    return FieldError(field=name, code=code, message=message)


def parcel_status_report(*, courier: Courier, report: StatusReport) -> StatusOutcome:
    """Record one status report. Idempotent: the same report (same event id, or same parcel+status+time)
    twice is a no-op ``duplicate``. A report never moves a parcel backwards (``stale``) and never changes a
    delivered or undeliverable parcel (``terminal``); both are kept as events. Raises ``ValidationFailed``
    for an unknown status or a bad time."""
    _check(report)
    from allot.core.codes import normalize_code

    number, event_id = normalize_code(report.parcel), _event_id(report)
    with transaction.atomic():
        # Another courier's parcel answers exactly like a parcel that does not exist: no existence oracle.
        parcel = Parcel.objects.select_for_update().filter(number=number, courier=courier).first()
        if parcel is None:
            return StatusOutcome(parcel=number, result="unknown_parcel", status="")
        if ParcelEvent.objects.filter(courier=courier, event_id=event_id).exists():
            return StatusOutcome(parcel=number, result="duplicate", status=parcel.status)
        if parcel.status in TERMINAL:
            outcome = ParcelEvent.Outcome.TERMINAL
        elif STATUS_RANK[report.status] > STATUS_RANK[parcel.status]:
            outcome = ParcelEvent.Outcome.APPLIED
        else:
            outcome = ParcelEvent.Outcome.STALE
        try:
            with transaction.atomic():
                ParcelEvent.objects.create(parcel=parcel, courier=courier, event_id=event_id, status=report.status,
                                           at=report.at, note=report.note[:200], outcome=outcome)
        except IntegrityError:
            return StatusOutcome(parcel=number, result="duplicate", status=parcel.status)
        if outcome == ParcelEvent.Outcome.APPLIED:
            parcel.status, parcel.status_at, parcel.status_note = report.status, report.at, report.note[:200]
            parcel.save(update_fields=["status", "status_at", "status_note", "updated_at"])
            log_action("allot.delivery.status", obj=parcel, actor_label=f"courier/{courier.code}",
                       data={"status": report.status, "at": report.at.isoformat(), "event": event_id})
    return StatusOutcome(parcel=number, result=str(outcome), status=parcel.status)


def parcel_status_report_batch(*, courier: Courier, reports: list[StatusReport]) -> list[StatusOutcome]:
    """Each report on its own (one bad report does not undo the others); the results in the same order."""
    out = []
    for report in reports:
        try:
            out.append(parcel_status_report(courier=courier, report=report))
        except ValidationFailed as exc:
            from allot.core.codes import normalize_code

            out.append(StatusOutcome(parcel=normalize_code(report.parcel), result=exc.errors[0].code, status=""))
    return out
