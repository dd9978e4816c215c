"""Reads for staff scoping: which campaigns an account may see. Every staff page and service that takes an id
filters through these, so a record outside the account's scope is "not found" (404), never "forbidden"."""

from __future__ import annotations

from typing import Any

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


def role_label(user: Any) -> str:
    """The role recorded in access logs: the profile's role, or "superuser"."""
    profile = profile_of(user)
    if profile is not None:
        return profile.role
    return "superuser" if getattr(user, "is_superuser", False) else ""


def campaigns_of(user: Any) -> QuerySet[Campaign]:
    """Superusers see every campaign; operators and notaries the campaigns on their profile; others none."""
    if getattr(user, "is_superuser", False) and getattr(user, "is_active", False):
        return Campaign.objects.all()
    profile = profile_of(user)
    if profile is None or profile.role not in (Role.OPERATOR, Role.NOTARY):
        return Campaign.objects.none()
    return Campaign.objects.filter(staff=profile)


def campaigns_operated(user: Any) -> QuerySet[Campaign]:
    """Campaigns where the user may see and act on residents' records: operators' own campaigns (and every
    campaign for a superuser). Notaries see draws, never residents."""
    if getattr(user, "is_superuser", False) and getattr(user, "is_active", False):
        return Campaign.objects.all()
    profile = profile_of(user)
    if profile is None or profile.role != Role.OPERATOR:
        return Campaign.objects.none()
    return Campaign.objects.filter(staff=profile)


def needs_second_factor(user: Any) -> bool:
    """Operators, notaries and superusers log in with a TOTP second factor; clerks and committee staff with a
    password (their accounts see one outlet or one committee, and use shared counter devices)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_superuser", False):
        return True
    profile = profile_of(user)
    return profile is not None and profile.role in (Role.OPERATOR, Role.NOTARY)
