"""Staff accounts: the role, a clerk's outlet and the campaigns an operator or notary works on."""

from __future__ import annotations

from django.contrib import admin

from allot.staff.models import StaffProfile


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "outlet"]
    list_filter = ["role"]
    search_fields = ["user__username", "outlet__code", "outlet__name"]
    list_select_related = ["user", "outlet"]
    autocomplete_fields = ["user", "outlet"]
    filter_horizontal = ["campaigns"]
