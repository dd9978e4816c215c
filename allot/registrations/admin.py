"""Registrations in the admin: read-only, and the person only in masked form."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from allot.registrations.models import Registration


@admin.register(Registration)
class RegistrationAdmin(admin.ModelAdmin):
    list_display = ["number", "status", "person_masked", "round", "district", "outlet", "allocated_outlet",
                    "channel", "created_at"]
    list_filter = ["status", "channel", "round__campaign", "round__draw_date", "district"]
    search_fields = ["number"]
    list_select_related = ["person", "round__campaign", "district", "outlet", "allocated_outlet"]
    fields = readonly_fields = (
        "number", "status", "person_masked", "campaign", "round", "district", "outlet", "accept_any",
        "allocated_outlet", "weight", "losses_before", "channel", "consent_version", "consent_at",
        "consent_health_version", "consent_health_at", "rolled_from",
        "entry_id", "created_at", "updated_at")
    show_full_result_count = False

    @admin.display(description=_("person (masked)"))
    def person_masked(self, obj: Registration) -> str:
        p = obj.person
        return f"{p.name_masked} · {p.id_masked} · {p.phone_masked}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Registration | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Registration | None = None) -> bool:
        return False
