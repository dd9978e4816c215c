"""Reads for the privacy pages, every one scoped to the campaigns the account operates: a record outside that
scope is "not found"."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from allot.core.codes import normalize_code
from allot.core.errors import NotFound
from allot.privacy.models import AccessLog, ExportRequest
from allot.registrations.models import Registration
from allot.staff.selectors import campaigns_operated


def registrations_in_scope(*, user: Any) -> QuerySet[Registration]:
    return (Registration.objects.filter(campaign__in=campaigns_operated(user))
            .select_related("person", "campaign", "round", "district", "outlet", "allocated_outlet"))


def registration_in_scope_get(*, user: Any, pk: int) -> Registration:
    reg = registrations_in_scope(user=user).filter(pk=pk).first()
    if reg is None:
        raise NotFound("Not found.", code="registration_not_found")
    return reg


def registration_in_scope_find(*, user: Any, number: str) -> Registration:
    reg = registrations_in_scope(user=user).filter(number=normalize_code(number)).first()
    if reg is None:
        raise NotFound("Not found.", code="registration_not_found", field="number")
    return reg


def exports_in_scope(*, user: Any) -> QuerySet[ExportRequest]:
    return (ExportRequest.objects.filter(campaign__in=campaigns_operated(user))
            .select_related("campaign", "requested_by", "approved_by"))


def export_in_scope_get(*, user: Any, pk: int) -> ExportRequest:
    export = exports_in_scope(user=user).filter(pk=pk).first()
    if export is None:
        raise NotFound("Not found.", code="export_not_found")
    return export


def access_log_for(*, user: Any, limit: int = 100) -> list[AccessLog]:
    """The latest access-log rows of the campaigns the account operates (what a second operator reviews)."""
    slugs = list(campaigns_operated(user).values_list("slug", flat=True))
    return list(AccessLog.objects.filter(campaign_slug__in=slugs).order_by("-id")[:limit])
