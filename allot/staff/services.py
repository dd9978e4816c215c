"""Writes for staff accounts: ``staff_account_upsert`` (used by ``create_staff`` and the demo), the login
lockout with exponential backoff, and ending the sessions of a disabled account."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from allot.campaigns.models import Campaign
from allot.core.audit import log_action
from allot.core.errors import DomainError
from allot.core.types import Actor
from allot.places.models import Committee, Outlet
from allot.staff.models import LoginFailures, StaffProfile, StaffSession


@dataclass(frozen=True)
class StaffAccount:
    user: AbstractUser
    profile: StaffProfile
    password: str
    created: bool


def staff_account_upsert(*, username: str, role: str, outlet_code: str = "", password: str = "",
                         campaign_slugs: Iterable[str] = (), superuser: bool = False,
                         committee_code: str = "") -> StaffAccount:
    """Create or update a staff account with its role. A clerk needs an outlet; an empty password means a
    random one is generated (returned once, never stored in clear)."""
    if role not in StaffProfile.Role.values:
        raise DomainError(_("Unknown role %(role)s.") % {"role": role}, code="role_unknown", field="role")
    outlet = None
    if outlet_code:
        outlet = Outlet.objects.filter(code=outlet_code).first()
        if outlet is None:
            raise DomainError(_("Unknown outlet code %(code)s.") % {"code": outlet_code}, code="outlet_unknown",
                              field="outlet")
    if role == StaffProfile.Role.CLERK and outlet is None:
        raise DomainError(_("A clerk account must be bound to one outlet."), code="clerk_needs_outlet",
                          field="outlet")
    committee = None
    if committee_code:
        committee = Committee.objects.filter(code=committee_code).first()
        if committee is None:
            raise DomainError(_("Unknown committee code %(code)s.") % {"code": committee_code},
                              code="committee_unknown", field="committee")
    if role == StaffProfile.Role.COMMITTEE and committee is None:
        raise DomainError(_("A committee staff account must be bound to one committee."),
                          code="committee_staff_needs_committee", field="committee")
    slugs = list(campaign_slugs)
    campaigns = list(Campaign.objects.filter(slug__in=slugs))
    if len(campaigns) != len(set(slugs)):
        raise DomainError(_("Unknown campaign in %(slugs)s.") % {"slugs": ", ".join(slugs)},
                          code="campaign_unknown", field="campaign")
    password = password or secrets.token_urlsafe(12)
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = superuser or role == StaffProfile.Role.OPERATOR
        user.is_superuser = superuser
        user.save()
        profile, _c = StaffProfile.objects.update_or_create(user=user, defaults={"role": role, "outlet": outlet,
                                                                                    "committee": committee})
        if campaigns:
            profile.campaigns.add(*campaigns)
        log_action("allot.staff.account_set", obj=profile, data={
            "username": username, "role": role, "outlet": outlet.code if outlet else None,
            "campaigns": sorted(c.slug for c in campaigns), "superuser": superuser, "created": created})
    return StaffAccount(user=user, profile=profile, password=password, created=created)


# --- login lockout ------------------------------------------------------------------------------------

#: Failures allowed before the first lock; each further failure doubles the lock, up to LOCK_MAX.
LOCK_AFTER = 5
LOCK_FIRST = dt.timedelta(minutes=1)
LOCK_MAX = dt.timedelta(hours=1)


def login_key(username: str) -> str:
    return (username or "").strip().lower()[:150]


def login_locked_until(*, username: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the lock on ``username`` ends, or None when a password may be tried now."""
    now = now or timezone.now()
    row = LoginFailures.objects.filter(username=login_key(username), locked_until__gt=now).first()
    return row.locked_until if row is not None else None


def login_failure_record(*, username: str, now: dt.datetime | None = None) -> LoginFailures:
    """Count a failed password. From the LOCK_AFTER-th failure on, the name is locked for LOCK_FIRST, doubling
    with each further failure (exponential backoff) up to LOCK_MAX. The counter moves in SQL."""
    now = now or timezone.now()
    key = login_key(username)
    with transaction.atomic():
        updated = LoginFailures.objects.filter(username=key).update(failures=F("failures") + 1, last_failure_at=now)
        if not updated:
            try:
                with transaction.atomic():
                    LoginFailures.objects.create(username=key, failures=1, last_failure_at=now)
            except IntegrityError:
                LoginFailures.objects.filter(username=key).update(failures=F("failures") + 1, last_failure_at=now)
        row = LoginFailures.objects.get(username=key)
        if row.failures >= LOCK_AFTER:
            lock = min(LOCK_FIRST * 2 ** (row.failures - LOCK_AFTER), LOCK_MAX)
            row.locked_until = now + lock
            row.save(update_fields=["locked_until"])
    if row.failures >= LOCK_AFTER:
        log_action("allot.staff.login_locked", actor_label="system",
                   data={"username": key, "failures": row.failures, "until": row.locked_until.isoformat()
                         if row.locked_until else None})
    return row


def login_success_record(*, username: str) -> None:
    LoginFailures.objects.filter(username=login_key(username)).delete()


# --- sessions -----------------------------------------------------------------------------------------

def staff_session_record(*, user: AbstractBaseUser, session_key: str) -> None:
    if session_key:
        StaffSession.objects.get_or_create(session_key=session_key, defaults={"user_id": user.pk})


def staff_sessions_end(*, user: AbstractBaseUser) -> int:
    """Delete every recorded session of ``user`` from the session store (whatever the engine)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(StaffSession.objects.filter(user_id=user.pk).values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    StaffSession.objects.filter(user_id=user.pk).delete()
    return len(keys)


def staff_account_disable(*, user: AbstractUser, actor: Actor = None) -> int:
    """Disable the account and end its sessions at once. Returns the number of sessions ended."""
    with transaction.atomic():
        ended = staff_sessions_end(user=user)
        user.is_active = False
        user.save(update_fields=["is_active"])  # the post_save hook ends sessions opened meanwhile
        log_action("allot.staff.account_disabled", obj=user, actor=actor, data={"sessions_ended": ended})
    return ended


# --- second factor (TOTP, django-otp) -----------------------------------------------------------------

def totp_device_for_enrolment(*, user: AbstractBaseUser) -> TOTPDevice:
    """The account's unconfirmed TOTP device (made on first use); it becomes confirmed with a first valid code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def totp_verify(*, user: AbstractBaseUser, device: TOTPDevice, token: str) -> bool:
    """Check a code (django-otp throttles wrong codes with exponential backoff); a first valid code confirms an
    enrolling device."""
    if device.user_id != user.pk:
        return False
    if not device.verify_token((token or "").strip()):
        log_action("allot.staff.otp_failed", obj=device, actor=user)
        return False
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        log_action("allot.staff.otp_enrolled", obj=device, actor=user)
    return True
