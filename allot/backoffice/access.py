"""Who may do what in the back office. Roles live on ``StaffProfile``; an operator or notary is scoped to the
campaigns on their profile, a clerk to one outlet, a superuser sees every campaign."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from allot.campaigns.models import Campaign
from allot.staff.models import StaffProfile

Role = StaffProfile.Role


def profile_of(user: Any) -> StaffProfile | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.staff
    except StaffProfile.DoesNotExist:
        return None


def role_of(user: Any) -> str:
    profile = profile_of(user)
    return profile.role if profile is not None else ""


def is_operator(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False)) or role_of(user) == Role.OPERATOR


def is_notary(user: Any) -> bool:
    return role_of(user) == Role.NOTARY


def is_clerk(user: Any) -> bool:
    profile = profile_of(user)
    return profile is not None and profile.role == Role.CLERK and profile.outlet_id is not None


def campaigns_visible(user: Any) -> QuerySet[Campaign]:
    """Superusers see every campaign; operators and notaries the campaigns on their profile; others none."""
    if getattr(user, "is_superuser", False):
        return Campaign.objects.all()
    profile = profile_of(user)
    if profile is None or profile.role not in (Role.OPERATOR, Role.NOTARY):
        return Campaign.objects.none()
    return Campaign.objects.filter(staff=profile)


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied
