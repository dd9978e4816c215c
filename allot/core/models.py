"""Shared kernel models: the audit log and the job leases that keep scheduled jobs single-run."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditLog(models.Model):
    """One row per state change (pretix ``LogEntry``). ``data`` never holds raw ID or phone numbers."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=100)   # indexed: Meta
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_label = models.CharField(max_length=100, blank=True, help_text="system, scheduler, resident, …")
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        # an index, not db_index=True: PostgreSQL adds no LIKE index for it (Person's Meta)
        indexes = [models.Index(fields=["object_type", "object_id"]),
                   models.Index(fields=["action"], name="audit_action")]
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}:{self.object_id}"


class JobLease(models.Model):
    """A named lease: whoever holds an unexpired lease runs the job; other workers skip it."""

    name = models.CharField(max_length=120, primary_key=True)
    holder = models.CharField(max_length=120)
    expires_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.holder} until {self.expires_at})"
