"""Pickup codes: read-only; redemption happens only on the clerk page or the API."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from allot.pickup.models import PickupCode


@admin.register(PickupCode)
class PickupCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "outlet", "registration", "valid_from", "valid_until", "redeemed_at",
                    "redeemed_by"]
    list_filter = ["outlet__district", "redeemed_at"]
    search_fields = ["code", "registration__number"]
    list_select_related = ["outlet", "registration", "redeemed_by"]
    fields = readonly_fields = ("code", "registration", "outlet", "valid_from", "valid_until", "redeemed_at",
                                "redeemed_by", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PickupCode | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PickupCode | None = None) -> bool:
        return False
