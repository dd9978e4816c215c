"""Staff roles. A clerk is bound to exactly one outlet; an operator to the campaigns they run."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class StaffProfile(models.Model):
    class Role(models.TextChoices):
        OPERATOR = "operator", _("campaign operator")
        NOTARY = "notary", _("notary")
        CLERK = "clerk", _("pharmacy clerk")
        COMMITTEE = "committee", _("committee staff")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    role = models.CharField(max_length=10, choices=Role.choices)
    outlet = models.ForeignKey("places.Outlet", null=True, blank=True, on_delete=models.PROTECT, related_name="clerks")
    campaigns = models.ManyToManyField("campaigns.Campaign", blank=True, related_name="staff")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(role="clerk") | Q(outlet__isnull=False), name="clerk_has_outlet"),
        ]
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"
