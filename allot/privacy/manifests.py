"""A courier manifest downloaded by a campaign operator from the back office (a service of allot.privacy: every
look at full personal data by staff is written to the access log here).

The manifest itself (which parcels, which columns, CSV and XLSX) is allot.delivery's: this module calls
``manifest_assign`` and ``manifest_rows`` exactly as the admin action and the courier API do, so the day's
unassigned parcels of the courier's districts are handed to it and the export is audited there
(``allot.delivery.manifest_exported``, with the count and the revealed fields, never the values).

What the back office adds, because an operator (not the courier) is looking at full names and phones:

* a stated purpose, and an access-log row (``privacy.AccessLog``, action ``export``: who, role, campaign, which
  manifest, which columns, how many records, the purpose) written in the same transaction as the look, as
  ``allot.privacy`` does for a reveal and for a bulk export;
* the campaign's scope: the delivery services select a courier's parcels by day and district, not by
  campaign, so a manifest downloaded from one campaign's page must not carry another campaign's parcels. If it
  would, the download is refused (``manifest_other_campaign``) and nothing is assigned, audited or logged.

Not added: the second approver of ``privacy.ExportRequest``. That flow stores a registration export per
campaign (no courier, day or district) and downloads the registration CSV; the manifest exports of the admin
and the courier API have no approver either. docs/privacy.md says why (the
"Courier manifest" row).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from allot.campaigns.models import Campaign
from allot.core.errors import Conflict, DomainError
from allot.delivery.models import Courier, Parcel
from allot.delivery.services import manifest_assign, manifest_csv, manifest_rows, manifest_xlsx
from allot.firstcome.models import Claim
from allot.privacy.models import AccessLog
from allot.privacy.services import purpose_clean
from allot.staff.selectors import role_label

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: ``AccessLog.object_type`` of a manifest download; ``object_id`` is ``courier/day/district`` (or ``all``).
ACCESS_LOG_TYPE = "delivery.manifest"


@dataclass(frozen=True)
class ManifestFile:
    name: str
    content_type: str
    content: bytes
    records: int
    access_log_id: int


def _other_campaign_error() -> Conflict:
    return Conflict(_("This courier's manifest for the day also holds parcels of another campaign, so it cannot "
                      "be downloaded from this campaign's page. Download it from the administration instead."),
                    code="manifest_other_campaign")


def _touches_other_campaigns(*, campaign: Campaign, courier: Courier, day: dt.date, district_code: str) -> bool:
    """Would the assignment or the export reach a parcel of another campaign? The parcels the courier already
    has that day, and the unassigned ones of its districts that ``manifest_assign`` would give it."""
    served = courier.districts.values_list("code", flat=True)
    qs = Parcel.objects.filter(claim__day=day).filter(Q(courier=courier)
                                                      | Q(courier__isnull=True, district_id__in=served))
    if district_code:
        qs = qs.filter(district_id=district_code)
    return qs.exclude(claim__campaign=campaign).exists()


def manifest_download(*, actor: Any, campaign: Campaign, courier: Courier, day: dt.date, district_code: str = "",
                      fmt: str, purpose: str) -> ManifestFile:
    """The courier's manifest of the day (one district, or all it serves) in its own columns, for an operator of
    the campaign (the caller checks the scope). Hands the unassigned parcels over first, like the courier API;
    writes the access-log row with the purpose in the same transaction. Raises ``DomainError``:
    ``purpose_required``, ``manifest_other_campaign``, ``district_not_served`` (from allot.delivery)."""
    if fmt not in FORMATS:
        raise DomainError(_("Choose CSV or XLSX."), code="format_invalid", field="format")
    purpose = purpose_clean(purpose)
    district = district_code or None
    with transaction.atomic():
        if _touches_other_campaigns(campaign=campaign, courier=courier, day=day, district_code=district_code):
            raise _other_campaign_error()
        manifest_assign(courier=courier, day=day, district_code=district, actor=actor)
        rows = manifest_rows(courier=courier, day=day, district_code=district, actor=actor)
        numbers = {row["claim"] for row in rows}
        # A claim of another campaign may have been committed since the check: then undo it all.
        if numbers and Claim.objects.filter(campaign=campaign, day=day, number__in=numbers).count() != len(numbers):
            raise _other_campaign_error()
        log = AccessLog.objects.create(
            actor=actor, actor_label=actor.get_username(), role=role_label(actor), action=AccessLog.Action.EXPORT,
            campaign_slug=campaign.slug, object_type=ACCESS_LOG_TYPE,
            object_id=f"{courier.code}/{day.isoformat()}/{district_code or 'all'}", purpose=purpose,
            fields=",".join(key for key, _header in courier.columns)[:200], records=len(rows))
    stem = f"manifest-{courier.code}-{day:%Y%m%d}{'-' + district_code if district_code else ''}"
    if fmt == "xlsx":
        content = manifest_xlsx(rows=rows, columns=courier.columns, title=stem)
    else:
        content = manifest_csv(rows=rows, columns=courier.columns)
    return ManifestFile(name=f"{stem}.{fmt}", content_type=CONTENT_TYPES[fmt], content=content, records=len(rows),
                        access_log_id=log.pk)
