"""Draws and their bundle files: evidence, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from allot.core.admin import ReadOnlyAdmin
from allot.draws.models import Draw, DrawFile


class DrawFileInline(admin.TabularInline):
    model = DrawFile
    fields = readonly_fields = ("name", "sha256", "size")
    extra = 0
    can_delete = False

    @admin.display(description=_("bytes"))
    def size(self, obj: DrawFile) -> int:
        return len(obj.content or b"")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Draw)
class DrawAdmin(ReadOnlyAdmin):
    list_display = ["draw_id", "state", "entries", "winners", "beacon_kind", "beacon_round", "notary_source",
                    "verified_at"]
    list_filter = ["state", "beacon_kind", "round__campaign"]
    search_fields = ["draw_id"]
    list_select_related = ["round__campaign"]
    fields = readonly_fields = (
        "round", "draw_id", "state", "committed_at", "entries", "merkle_root", "manifest_hash", "beacon_kind",
        "beacon_round", "beacon_time", "notary_digits", "notary_source", "notary_entered_at", "notary",
        "beacon_signature", "randomness", "seed", "winners", "leftover", "published_at", "verified_at",
        "verify_summary")
    inlines = [DrawFileInline]


@admin.register(DrawFile)
class DrawFileAdmin(ReadOnlyAdmin):
    list_display = ["draw", "name", "sha256"]
    list_filter = ["name"]
    search_fields = ["draw__draw_id"]
    list_select_related = ["draw"]
    fields = readonly_fields = ("draw", "name", "sha256")
