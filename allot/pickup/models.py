"""Pickup codes: one per winner, redeemable once, at one outlet, inside one window."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class PickupCode(models.Model):
    registration = models.OneToOneField("registrations.Registration", on_delete=models.PROTECT,
                                        related_name="pickup")
    code = models.CharField(max_length=16, unique=True)
    outlet = models.ForeignKey("places.Outlet", on_delete=models.PROTECT, related_name="pickup_codes")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeemed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    redeem_nonce = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(valid_until__gt=models.F("valid_from")),
                                   name="pickup_window_positive"),
        ]
        verbose_name = _("pickup code")
        verbose_name_plural = _("pickup codes")

    def __str__(self) -> str:
        return f"{self.code[:5]}-{self.code[5:]}"
