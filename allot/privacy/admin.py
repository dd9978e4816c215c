"""The access log, exports and retention runs are evidence: readable in the admin, never added, changed or
deleted there."""

from __future__ import annotations

from django.contrib import admin

from allot.core.admin import ReadOnlyAdmin
from allot.privacy.models import AccessLog, ExportRequest, RetentionRun


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "role", "action", "campaign_slug", "object_type", "object_id",
                    "records", "purpose"]
    list_filter = ["action", "role", "campaign_slug"]
    date_hierarchy = "created_at"
    fields = readonly_fields = ("created_at", "actor", "actor_label", "role", "action", "campaign_slug",
                                "object_type", "object_id", "fields", "records", "purpose")


@admin.register(ExportRequest)
class ExportRequestAdmin(ReadOnlyAdmin):
    list_display = ["pk", "campaign", "requested_by", "state", "approved_by", "created_at", "downloaded_at"]
    list_filter = ["state", "campaign"]
    fields = readonly_fields = ("campaign", "requested_by", "purpose", "state", "created_at", "approved_by",
                                "approved_at", "downloaded_at")


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "erased_at", "people_erased", "registrations", "eligibility_entries_deleted"]
    fields = readonly_fields = ("campaign", "erased_at", "people_erased", "registrations",
                                "eligibility_entries_deleted")
