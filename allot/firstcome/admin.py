"""First-come admin: plans are edited here (through the service); quotas and claims are read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from allot.core.admin import ReadOnlyAdmin
from allot.firstcome.models import Claim, Quota, QuotaPlan
from allot.firstcome.services import quota_plan_set


@admin.register(QuotaPlan)
class QuotaPlanAdmin(admin.ModelAdmin):
    list_display = ["campaign", "scope_key", "units_per_day"]
    list_filter = ["campaign"]

    def save_model(self, request: HttpRequest, obj: QuotaPlan, form: object, change: bool) -> None:
        saved = quota_plan_set(campaign=obj.campaign, scope_key=obj.scope_key, units_per_day=obj.units_per_day,
                               actor=request.user)
        obj.pk = saved.pk




@admin.register(Quota)
class QuotaAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "day", "scope_key", "units", "returned", "taken"]
    list_filter = ["campaign", "day"]
    date_hierarchy = "day"


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = ["number", "campaign", "day", "scope_key", "district", "channel", "created_at"]
    list_filter = ["campaign", "day", "channel"]
    search_fields = ["number"]
    list_select_related = ["campaign", "district"]
    fields = readonly_fields = ("number", "campaign", "day", "scope_key", "district", "outlet", "units", "channel",
                                "consent_version", "consent_at", "created_at")
