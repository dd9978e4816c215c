"""The audit log is evidence: readable, never added to, changed or deleted through the admin."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from allot.core.models import AuditLog


class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence and personal data: readable in the admin, never added, changed or deleted there."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "actor_label", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["action", "actor_label", "object_id"]
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "action", "actor", "actor_label", "object_type", "object_id", "data")
    fields = ("created_at", "action", "actor", "actor_label", "object_type", "object_id", "data")
