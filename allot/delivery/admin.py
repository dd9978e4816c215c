"""Delivery admin: couriers (areas, manifest columns, API key, today's manifest), parcels read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.delivery.models import Courier, Parcel, ParcelEvent
from allot.delivery.services import courier_key_issue, manifest_assign, manifest_csv, manifest_rows, manifest_xlsx


@admin.register(Courier)
class CourierAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "company", "active", "key_issued_at"]
    filter_horizontal = ["districts"]
    readonly_fields = ["key_issued_at"]
    exclude = ["key_hash"]
    actions = ["issue_key", "manifest_today_csv", "manifest_today_xlsx"]

    @admin.action(description=_("Issue a new API key (shown once)"))
    def issue_key(self, request: HttpRequest, queryset: QuerySet[Courier]) -> None:
        for courier in queryset:
            key = courier_key_issue(courier=courier, actor=request.user)
            messages.warning(request, _("New key for %(c)s (copy it now, it is not shown again): %(k)s") % {
                "c": courier.code, "k": key})

    def _manifest(self, request: HttpRequest, queryset: QuerySet[Courier], fmt: str) -> HttpResponse | None:
        if queryset.count() != 1:
            messages.error(request, _("Choose one courier."))
            return None
        courier = queryset.get()
        day = timezone.localdate()
        manifest_assign(courier=courier, day=day, actor=request.user)
        rows = manifest_rows(courier=courier, day=day, actor=request.user)
        name = f"manifest-{courier.code}-{day:%Y%m%d}.{fmt}"
        if fmt == "xlsx":
            response = HttpResponse(manifest_xlsx(rows=rows, columns=courier.columns, title=name[:-5]),
                                    content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        else:
            response = HttpResponse(manifest_csv(rows=rows, columns=courier.columns),
                                    content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @admin.action(description=_("Today's manifest (CSV)"))
    def manifest_today_csv(self, request: HttpRequest, queryset: QuerySet[Courier]) -> HttpResponse | None:
        return self._manifest(request, queryset, "csv")

    @admin.action(description=_("Today's manifest (XLSX)"))
    def manifest_today_xlsx(self, request: HttpRequest, queryset: QuerySet[Courier]) -> HttpResponse | None:
        return self._manifest(request, queryset, "xlsx")


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
