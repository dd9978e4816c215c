"""The outbox and codes in the admin: read-only, masked, never the sealed text."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from allot.verification.models import OneTimeCode, SmsMessage


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SmsMessage)
class SmsMessageAdmin(_ReadOnly):
    list_display = ["pk", "purpose", "phone_masked", "created_at", "sent_at", "attempts", "last_error"]
    list_filter = ["purpose"]
    fields = readonly_fields = ("purpose", "phone_masked", "created_at", "sent_at", "attempts", "last_error")


@admin.register(OneTimeCode)
class OneTimeCodeAdmin(_ReadOnly):
    list_display = ["pk", "purpose", "scope", "created_at", "expires_at", "attempts", "used_at"]
    list_filter = ["purpose"]
    fields = readonly_fields = ("purpose", "scope", "created_at", "expires_at", "attempts", "used_at")
