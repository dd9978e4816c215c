"""Personal data in the admin: masked forms only. Blind indexes and sealed values are never shown; nothing is
added or changed here (writes go through ``identity.services``)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from allot.core.admin import ReadOnlyAdmin
from allot.identity.models import EligibilityList, Person


@admin.register(Person)
class PersonAdmin(ReadOnlyAdmin):
    list_display = ["pk", "name_masked", "id_masked", "phone_masked", "created_at"]
    fields = readonly_fields = ("name_masked", "id_masked", "phone_masked", "created_at", "updated_at")
    # No search: searching would mean typing ID numbers into a URL; look people up via their registration.
    show_full_result_count = False


@admin.register(EligibilityList)
class EligibilityListAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "size", "imported_at", "source"]
    search_fields = ["code", "name"]
    readonly_fields = ["size", "imported_at", "upload_link"]
    fields = ["code", "name", "source", "appeal_info", "size", "imported_at", "upload_link"]

    @admin.display(description=_("Import"))
    def upload_link(self, obj: EligibilityList) -> SafeString:
        return format_html('<a href="{}">{}</a>', reverse("backoffice:eligibility-upload"),
                           _("Upload a CSV of ID numbers in the back office"))

    def has_delete_permission(self, request: HttpRequest, obj: EligibilityList | None = None) -> bool:
        return False
