"""Writes for staff accounts: ``staff_account_upsert`` (used by ``create_staff`` and the demo)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from allot.campaigns.models import Campaign
from allot.core.audit import log_action
from allot.core.errors import DomainError
from allot.places.models import Outlet
from allot.staff.models import StaffProfile


@dataclass(frozen=True)
class StaffAccount:
    user: AbstractUser
    profile: StaffProfile
    password: str
    created: bool


def staff_account_upsert(*, username: str, role: str, outlet_code: str = "", password: str = "",
                         campaign_slugs: Iterable[str] = (), superuser: bool = False) -> StaffAccount:
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
        profile, _c = StaffProfile.objects.update_or_create(user=user, defaults={"role": role, "outlet": outlet})
        if campaigns:
            profile.campaigns.add(*campaigns)
        log_action("allot.staff.account_set", obj=profile, data={
            "username": username, "role": role, "outlet": outlet.code if outlet else None,
            "campaigns": sorted(c.slug for c in campaigns), "superuser": superuser, "created": created})
    return StaffAccount(user=user, profile=profile, password=password, created=created)
