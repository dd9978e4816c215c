"""Who may do what in the back office. Roles live on ``StaffProfile``; an operator or notary is scoped to the
campaigns on their profile, a clerk to one outlet, a superuser sees every campaign."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from allot.campaigns.models import Campaign
from allot.staff.models import StaffProfile
from allot.staff.selectors import campaigns_of
from allot.staff.selectors import campaigns_operated as campaigns_operated
from allot.staff.selectors import profile_of as profile_of

Role = StaffProfile.Role


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
    return campaigns_of(user)


def is_committee(user: Any) -> bool:
    profile = profile_of(user)
    return profile is not None and profile.role == Role.COMMITTEE and profile.committee_id is not None


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied
