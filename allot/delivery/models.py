"""Delivery by courier: a structured address per parcel, couriers with their areas and manifest columns, and the
status events couriers report.

An address is district (division code) → street (街道, imported list) → committee (社区, imported list) →
building / unit / room as separate fields, and one free-text line only for what is left (e.g. "东门快递柜").
Names and phones of recipients are not copied here: the manifest export opens them from the person's sealed
data (a logged, lawful reveal), so a dump of these tables has no phone number in it.

Parcel status moves forward only (``STATUS_RANK``); a terminal status (delivered, undeliverable) never changes.
Every report is kept as a ``ParcelEvent``, unique per courier and event id, so a repeated report is a no-op.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


def default_columns() -> list[list[str]]:
    return [[key, header] for key, header in DEFAULT_COLUMNS]


#: Columns a courier's manifest can have: (key, default header). ``Courier.columns`` orders and renames them.
DEFAULT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("parcel", "运单号"),
    ("recipient", "收件人"),
    ("phone", "收件人电话"),
    ("province", "省"),
    ("city", "市"),
    ("district", "区"),
    ("street", "街道"),
    ("committee", "社区"),
    ("building", "楼栋"),
    ("unit", "单元"),
    ("room", "房号"),
    ("line", "补充地址"),
    ("address", "完整地址"),
    ("good", "物品"),
    ("quantity", "数量"),
    ("claim", "预约编号"),
    ("day", "日期"),
)
COLUMN_KEYS = frozenset(key for key, _h in DEFAULT_COLUMNS)


class Courier(models.Model):
    """A courier company's depot (or one courier) serving some districts. It authenticates to the API with a
    key shown once when issued; only its SHA-256 is stored."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    company = models.CharField(max_length=100, blank=True)
    districts = models.ManyToManyField("places.Division", blank=True, related_name="couriers",
                                       help_text=_("The districts this courier delivers to."))
    columns = models.JSONField(default=default_columns, help_text=_(
        "The manifest columns in the courier's order: a list of [key, header] pairs."))
    key_hash = models.CharField(max_length=64, blank=True, db_index=True)
    key_issued_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("courier")
        verbose_name_plural = _("couriers")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Parcel(models.Model):
    class Status(models.TextChoices):
        CREATED = "created", _("being packed")
        MANIFESTED = "manifested", _("handed to the courier")
        PICKED_UP = "picked_up", _("picked up by the courier")
        OUT_FOR_DELIVERY = "out_for_delivery", _("out for delivery")
        DELIVERED = "delivered", _("delivered")
        UNDELIVERABLE = "undeliverable", _("could not be delivered")

    claim = models.OneToOneField("firstcome.Claim", on_delete=models.PROTECT, related_name="parcel")
    number = models.CharField(max_length=16, help_text=_("Parcel number on the label."))   # unique: Meta
    courier = models.ForeignKey(Courier, null=True, blank=True, on_delete=models.PROTECT, related_name="parcels",
                                db_index=False)   # the (courier, district) index leads with it
    # the address
    district = models.ForeignKey("places.Division", on_delete=models.PROTECT, related_name="+",
                                 db_index=False)   # indexed: Meta
    street = models.ForeignKey("places.Street", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               db_index=False)
    committee = models.ForeignKey("places.Committee", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", db_index=False)
    building = models.CharField(max_length=20)
    unit = models.CharField(max_length=10, blank=True)
    room = models.CharField(max_length=10, blank=True)
    line = models.CharField(max_length=60, blank=True)
    # the status
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    status_at = models.DateTimeField(null=True, blank=True, help_text=_("When the current status happened."))
    status_note = models.CharField(max_length=200, blank=True)
    unit_returned_at = models.DateTimeField(null=True, blank=True, help_text=_(
        "Undeliverable: when its unit went back to the next day's quota."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # as in Person's Meta: constraints and indexes, for no LIKE index on PostgreSQL (the district's code is text)
        constraints = [models.UniqueConstraint(fields=["number"], name="parcel_number_once")]
        indexes = [models.Index(fields=["status", "unit_returned_at"]), models.Index(fields=["courier", "district"]),
                   models.Index(fields=["district"], name="parcel_district")]
        verbose_name = _("parcel")
        verbose_name_plural = _("parcels")

    def __str__(self) -> str:
        return self.number


#: Forward order of statuses; a report may only move a parcel to a higher rank. Both terminal ones rank top.
STATUS_RANK: dict[str, int] = {
    Parcel.Status.CREATED: 0,
    Parcel.Status.MANIFESTED: 1,
    Parcel.Status.PICKED_UP: 2,
    Parcel.Status.OUT_FOR_DELIVERY: 3,
    Parcel.Status.DELIVERED: 9,
    Parcel.Status.UNDELIVERABLE: 9,
}
TERMINAL = frozenset({Parcel.Status.DELIVERED, Parcel.Status.UNDELIVERABLE})


class ParcelEvent(models.Model):
    """One status report, as received. ``applied`` says whether it moved the parcel."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("applied")
        STALE = "stale", _("older than the current status: kept, not applied")
        TERMINAL = "terminal", _("parcel already delivered or undeliverable: kept, not applied")

    parcel = models.ForeignKey(Parcel, on_delete=models.CASCADE, related_name="events")
    courier = models.ForeignKey(Courier, on_delete=models.PROTECT, related_name="events")
    event_id = models.CharField(max_length=64, help_text=_("The courier's id of the report (or a hash of it)."))
    status = models.CharField(max_length=20, choices=Parcel.Status.choices)
    at = models.DateTimeField(help_text=_("When it happened, as reported by the courier."))
    note = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]
        constraints = [models.UniqueConstraint(fields=["courier", "event_id"], name="parcel_event_once")]
        verbose_name = _("parcel event")
        verbose_name_plural = _("parcel events")

    def __str__(self) -> str:
        return f"{self.parcel_id} {self.status} {self.at:%Y-%m-%d %H:%M}"
