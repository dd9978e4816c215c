"""Pickup codes: issued to winners by the draw, redeemed once by a clerk of the right outlet in the window."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.core.audit import log_action
from allot.core.codes import normalize_code, random_code
from allot.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from allot.core.types import Actor
from allot.pickup.models import PickupCode
from allot.registrations.models import Registration

CODE_LENGTH = 10  # 10 symbols × 5 bits = 50 random bits (≥ 40 required)


def pickup_code_issue(*, registration: Registration, valid_from: dt.datetime, valid_until: dt.datetime) -> PickupCode:
    """Issue the winner's code (idempotent: a registration has at most one code)."""
    existing = PickupCode.objects.filter(registration=registration).first()
    if existing is not None:
        return existing
    assert registration.allocated_outlet_id is not None
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return PickupCode.objects.create(
                    registration=registration, code=random_code(CODE_LENGTH),
                    outlet_id=registration.allocated_outlet_id,
                    valid_from=valid_from, valid_until=valid_until)
        except IntegrityError:
            existing = PickupCode.objects.filter(registration=registration).first()
            if existing is not None:
                return existing
    raise RuntimeError("could not find a free pickup code after 5 attempts")


def _tz_text(moment: dt.datetime, registration: Registration) -> str:
    return moment.astimezone(registration.campaign.tz).strftime("%Y-%m-%d %H:%M")


def pickup_redeem(*, code: str, clerk: Actor, nonce: str = "", now: dt.datetime | None = None) -> PickupCode:
    """Redeem a code at the clerk's outlet. Exactly one redemption succeeds even under concurrency: the
    conditional UPDATE is the guard. A retry carrying the same ``nonce`` returns the earlier success."""
    now = now or timezone.now()
    staff = getattr(clerk, "staff", None)
    if clerk is None or staff is None or staff.role != "clerk" or staff.outlet_id is None:
        raise PermissionDenied(_("Only a pharmacy clerk account can redeem pickup codes."), code="not_a_clerk")
    canonical = normalize_code(code)
    if not canonical:
        raise DomainError(_("Type or scan the pickup code."), code="code_required", field="code")
    pc = (PickupCode.objects.select_related("registration__campaign", "outlet").filter(code=canonical).first())
    if pc is None:
        raise NotFound(_("Unknown pickup code. Check the characters (there is no 0, O, 1 or I)."),
                       code="code_unknown", field="code")
    reg = pc.registration
    if pc.outlet_id != staff.outlet_id:
        raise DomainError(_("This code is for another pharmacy: %(outlet)s. Please send the resident there.") % {
            "outlet": pc.outlet.name}, code="wrong_outlet", field="code", status=409)
    if pc.redeemed_at is not None:
        if nonce and pc.redeem_nonce == nonce:
            return pc
        raise Conflict(_("Already redeemed at %(when)s.") % {"when": _tz_text(pc.redeemed_at, reg)},
                       code="already_redeemed", field="code")
    if now < pc.valid_from:
        raise Conflict(_("Not valid yet: pickup opens at %(when)s.") % {"when": _tz_text(pc.valid_from, reg)},
                       code="not_yet_valid", field="code")
    if now >= pc.valid_until:
        raise Conflict(_("Expired: the pickup window closed at %(when)s.") % {"when": _tz_text(pc.valid_until, reg)},
                       code="expired", field="code")
    with transaction.atomic():
        won = PickupCode.objects.filter(pk=pc.pk, redeemed_at__isnull=True).update(
            redeemed_at=now, redeemed_by_id=clerk.pk, redeem_nonce=nonce[:64])
        if not won:
            pc.refresh_from_db()
            if nonce and pc.redeem_nonce == nonce:
                return pc
            assert pc.redeemed_at is not None
            raise Conflict(_("Already redeemed at %(when)s.") % {"when": _tz_text(pc.redeemed_at, reg)},
                           code="already_redeemed", field="code")
        log_action("allot.pickup.redeemed", obj=pc, actor=clerk, data={"outlet": pc.outlet.code})
    pc.refresh_from_db()
    return pc
