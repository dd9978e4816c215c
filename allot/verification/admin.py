"""The outbox and codes in the admin: read-only, masked, never the sealed text."""

from __future__ import annotations

from django.contrib import admin

from allot.core.admin import ReadOnlyAdmin
from allot.verification.models import OneTimeCode, SmsMessage


@admin.register(SmsMessage)
class SmsMessageAdmin(ReadOnlyAdmin):
    list_display = ["pk", "purpose", "phone_masked", "created_at", "sent_at", "attempts", "last_error"]
    list_filter = ["purpose"]
    fields = readonly_fields = ("purpose", "phone_masked", "created_at", "sent_at", "attempts", "last_error")


@admin.register(OneTimeCode)
class OneTimeCodeAdmin(ReadOnlyAdmin):
    list_display = ["pk", "purpose", "scope", "created_at", "expires_at", "attempts", "used_at"]
    list_filter = ["purpose"]
    fields = readonly_fields = ("purpose", "scope", "created_at", "expires_at", "attempts", "used_at")
