"""Privacy records: the access log of every look at a resident's full data (append-only), bulk exports with
their second approver, and the record of each campaign's personal data being erased at the end of retention."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class AppendOnly(Exception):
    """An access-log row cannot be changed or deleted."""


class AccessLogQuerySet(models.QuerySet["AccessLog"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnly("access-log rows cannot be changed")

    def delete(self) -> NoReturn:
        raise AppendOnly("access-log rows cannot be deleted")


class AccessLog(models.Model):
    """Who (account and role) saw or exported whose full personal data, when, and for what stated purpose.

    Append-only: the application refuses to update or delete a row (``save`` of an existing row, ``delete``,
    queryset ``update``/``delete``), and on PostgreSQL a trigger refuses it for every client of the database
    (migration 0002). No personal data is stored here: the record is named by its type and id."""

    class Action(models.TextChoices):
        REVEAL = "reveal", _("revealed one record")
        EXPORT = "export", _("exported records")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=150)
    role = models.CharField(max_length=20)
    action = models.CharField(max_length=10, choices=Action.choices)
    campaign_slug = models.CharField(max_length=40, blank=True)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64)
    purpose = models.TextField()
    fields = models.CharField(max_length=200, help_text=_("Which values were shown or exported."))
    records = models.PositiveIntegerField(default=1)

    objects = AccessLogQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnly("access-log rows cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("access-log rows cannot be deleted")


class ExportRequest(models.Model):
    """A bulk export of a campaign's registrations: requested with a purpose by one operator, approved by a
    second operator of the same campaign, then downloadable once by the requester within the validity."""

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for a second approver")
        APPROVED = "approved", _("approved, not yet downloaded")
        DOWNLOADED = "downloaded", _("downloaded")

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    purpose = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("requested_by")),
                                   name="export_second_approver"),
            models.CheckConstraint(condition=Q(state="pending") | Q(approved_by__isnull=False),
                                   name="export_approved_has_approver"),
        ]
        verbose_name = _("export request")
        verbose_name_plural = _("export requests")

    def __str__(self) -> str:
        return f"export {self.pk} ({self.campaign_id}, {self.state})"


class RetentionRun(models.Model):
    """A campaign whose retention period is over has had its personal data erased (once; kept as evidence)."""

    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.PROTECT, related_name="+")
    erased_at = models.DateTimeField()
    people_erased = models.PositiveIntegerField(default=0)
    registrations = models.PositiveIntegerField(default=0)
    eligibility_entries_deleted = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("retention run")
        verbose_name_plural = _("retention runs")

    def __str__(self) -> str:
        return f"{self.campaign_id} erased {self.erased_at:%Y-%m-%d}"
