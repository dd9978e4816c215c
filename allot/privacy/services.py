"""Reveal with reason, and bulk export with a second approver. Every full look at a resident's data writes an
access-log row (who, role, when, which record, for what purpose) in the same transaction as the look.

The scoping rule is the same everywhere: an account only reaches registrations of the campaigns it operates;
anything else is "not found".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.campaigns.models import Campaign
from allot.core.audit import log_action
from allot.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from allot.core.locking import lock_one
from allot.identity import crypto
from allot.privacy.models import AccessLog, ExportRequest
from allot.registrations.models import Registration
from allot.staff.selectors import campaigns_operated, role_label

PURPOSE_MIN_LENGTH = 10
EXPORT_VALID_FOR = dt.timedelta(hours=24)
EXPORT_COLUMNS = ["number", "status", "round", "district", "outlet", "allocated_outlet", "name_masked",
                  "id_masked", "phone_masked", "channel", "created_at"]


@dataclass(frozen=True)
class RevealedPerson:
    """A resident's full values, for one response. Never stored, never logged."""

    registration_number: str
    name: str
    id_number: str
    phone: str
    access_log_id: int


def purpose_clean(text: str) -> str:
    """The stated purpose of an access to personal data, whitespace folded; ``purpose_required`` if too short."""
    purpose = " ".join((text or "").split())
    if len(purpose) < PURPOSE_MIN_LENGTH:
        raise DomainError(_("State the purpose (at least %(n)d characters): it is recorded in the access log.")
                          % {"n": PURPOSE_MIN_LENGTH}, code="purpose_required", field="purpose")
    return purpose[:1000]


def _access_log(*, actor: Any, action: str, campaign: Campaign, obj_type: str, obj_id: object, purpose: str,
                fields: str, records: int = 1) -> AccessLog:
    return AccessLog.objects.create(actor=actor, actor_label=actor.get_username(), role=role_label(actor),
                                    action=action, campaign_slug=campaign.slug, object_type=obj_type,
                                    object_id=str(obj_id), purpose=purpose, fields=fields, records=records)


def person_reveal(*, actor: Any, registration_pk: int, purpose: str) -> RevealedPerson:
    """The full name, ID number and phone of a registration's resident, for an operator of its campaign, with
    the stated purpose written to the access log first."""
    purpose = purpose_clean(purpose)
    reg = (Registration.objects.filter(pk=registration_pk, campaign__in=campaigns_operated(actor))
           .select_related("person", "campaign").first())
    if reg is None:
        raise NotFound(_("Not found."), code="registration_not_found")
    person = reg.person
    if not person.id_sealed:
        raise Conflict(_("This resident's personal data has been erased (retention period over)."),
                       code="personal_data_erased")
    with transaction.atomic():
        row = _access_log(actor=actor, action=AccessLog.Action.REVEAL, campaign=reg.campaign,
                          obj_type="registrations.registration", obj_id=reg.pk, purpose=purpose,
                          fields="name,id_number,phone")
    return RevealedPerson(
        registration_number=reg.number,
        name=crypto.unseal(person.name_sealed, context="person.name"),
        id_number=crypto.unseal(person.id_sealed, context="person.id_number"),
        phone=crypto.unseal(person.phone_sealed, context="person.phone"),
        access_log_id=row.pk)


def export_request(*, actor: Any, campaign: Campaign, purpose: str) -> ExportRequest:
    if not campaigns_operated(actor).filter(pk=campaign.pk).exists():
        raise NotFound(_("Not found."), code="campaign_not_found")
    export = ExportRequest.objects.create(campaign=campaign, requested_by=actor, purpose=purpose_clean(purpose))
    log_action("allot.export.requested", obj=export, actor=actor, data={"campaign": campaign.slug})
    return export


def export_approve(*, actor: Any, export_pk: int) -> ExportRequest:
    """A second operator of the same campaign approves; the requester cannot approve their own export."""
    with transaction.atomic():
        if not ExportRequest.objects.filter(pk=export_pk, campaign__in=campaigns_operated(actor)).exists():
            raise NotFound(_("Not found."), code="export_not_found")
        export = lock_one(ExportRequest, export_pk)
        if export.requested_by_id == actor.pk:
            raise PermissionDenied(_("A second operator must approve an export; you requested this one."),
                                   code="second_approver_required")
        if export.state != ExportRequest.State.PENDING:
            raise Conflict(_("This export is no longer waiting for approval."), code="export_not_pending")
        export.state, export.approved_by, export.approved_at = ExportRequest.State.APPROVED, actor, timezone.now()
        export.save(update_fields=["state", "approved_by", "approved_at"])
        log_action("allot.export.approved", obj=export, actor=actor, data={"campaign": export.campaign.slug})
    return export


def export_download(*, actor: Any, export_pk: int, now: dt.datetime | None = None) -> tuple[str, str]:
    """The approved export as CSV (masked values only), once, by its requester, within EXPORT_VALID_FOR of the
    approval. Returns (file name, CSV text) and writes the access-log row."""
    now = now or timezone.now()
    with transaction.atomic():
        if not ExportRequest.objects.filter(pk=export_pk, campaign__in=campaigns_operated(actor)).exists():
            raise NotFound(_("Not found."), code="export_not_found")
        export = lock_one(ExportRequest, export_pk)
        if export.requested_by_id != actor.pk:
            raise PermissionDenied(_("Only the operator who requested the export can download it."),
                                   code="not_the_requester")
        if export.state == ExportRequest.State.PENDING:
            raise Conflict(_("A second operator has not approved this export yet."), code="export_not_approved")
        if export.state == ExportRequest.State.DOWNLOADED:
            raise Conflict(_("This export was already downloaded; request a new one."),
                           code="export_already_downloaded")
        assert export.approved_at is not None
        if now > export.approved_at + EXPORT_VALID_FOR:
            raise Conflict(_("The approval has expired; request a new export."), code="export_expired")
        regs = (Registration.objects.filter(campaign=export.campaign)
                .select_related("person", "round", "district", "outlet", "allocated_outlet").order_by("pk"))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        count = 0
        for r in regs:
            p = r.person
            writer.writerow([r.number, r.status, r.round.draw_date.isoformat(), r.district_id,
                             r.outlet.code if r.outlet else "", r.allocated_outlet.code if r.allocated_outlet else "",
                             p.name_masked, p.id_masked, p.phone_masked, r.channel,
                             timezone.localtime(r.created_at, export.campaign.tz).isoformat(timespec="seconds")])
            count += 1
        export.state, export.downloaded_at = ExportRequest.State.DOWNLOADED, now
        export.save(update_fields=["state", "downloaded_at"])
        _access_log(actor=actor, action=AccessLog.Action.EXPORT, campaign=export.campaign,
                    obj_type="privacy.exportrequest", obj_id=export.pk, purpose=export.purpose,
                    fields=",".join(EXPORT_COLUMNS), records=count)
    return f"{export.campaign.slug}-export-{export.pk}.csv", out.getvalue()
