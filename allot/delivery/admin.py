"""Delivery admin: couriers (areas, manifest columns, API key), parcels read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from allot.delivery.models import Courier, Parcel, ParcelEvent
from allot.delivery.services import courier_key_issue


@admin.register(Courier)
class CourierAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "company", "active", "key_issued_at"]
    filter_horizontal = ["districts"]
    readonly_fields = ["key_issued_at"]
    exclude = ["key_hash"]
    # No manifest download here: full names and phones leave only through the staff page (a stated purpose and an
    # access-log row: allot/privacy/manifests.py) or the courier's own authenticated API (docs/privacy.md).
    actions = ["issue_key"]

    @admin.action(description=_("Issue a new API key (shown once)"))
    def issue_key(self, request: HttpRequest, queryset: QuerySet[Courier]) -> None:
        for courier in queryset:
            key = courier_key_issue(courier=courier, actor=request.user)
            messages.warning(request, _("New key for %(c)s (copy it now, it is not shown again): %(k)s") % {
                "c": courier.code, "k": key})


class ParcelEventInline(admin.TabularInline):
    model = ParcelEvent
    extra = 0
    fields = readonly_fields = ("status", "at", "outcome", "courier", "event_id", "note", "received_at")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Parcel)
class ParcelAdmin(admin.ModelAdmin):
    list_display = ["number", "district", "street", "courier", "status", "status_at", "unit_returned_at"]
    list_filter = ["status", "courier", "district"]
    search_fields = ["number", "claim__number"]
    list_select_related = ["district", "street", "courier"]
    inlines = [ParcelEventInline]
    fields = readonly_fields = ("number", "claim", "courier", "district", "street", "committee", "building", "unit",
                                "room", "line", "status", "status_at", "status_note", "unit_returned_at", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Parcel | None = None) -> bool:
        return False
