"""A campaign is configuration: the good, its rounds, windows, limits and rules. A second city is a second
campaign, not new code."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Campaign(models.Model):
    class Mode(models.TextChoices):
        LOTTERY = "lottery", _("daily lottery (Xiamen)")
        FIRST_COME = "first_come", _("first come, first served with a daily quota (Hangzhou)")

    class Fulfilment(models.TextChoices):
        PICKUP = "pickup", _("collect at a pharmacy")
        DELIVERY = "delivery", _("delivered by courier")

    class QuotaScope(models.TextChoices):
        CITY = "city", _("one quota for the whole city")
        DISTRICT = "district", _("a quota per district")
        OUTLET = "outlet", _("a quota per outlet")

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        ACTIVE = "active", _("active")
        ENDED = "ended", _("ended")

    class WeightRule(models.TextChoices):
        EQUAL = "equal", _("equal chances")
        LOSSES = "losses", _("one more ticket per consecutive losing day, up to the cap")

    class Beacon(models.TextChoices):
        DRAND = "drand", _("drand quicknet (public)")
        SYNTHETIC = "synthetic", _("local synthetic beacon (demo only, not public)")

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    good = models.CharField(max_length=100, help_text=_("What is allocated, e.g. 一次性医用口罩."))
    unit_label = models.CharField(max_length=10, default="只")
    units_per_winner = models.PositiveIntegerField(default=5, help_text=_("Per-person limit per round."))
    city = models.ForeignKey("places.Division", on_delete=models.PROTECT, related_name="campaigns")
    time_zone = models.CharField(max_length=40, default="Asia/Shanghai")
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.LOTTERY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    draw_time = models.TimeField(default=dt.time(9, 0))
    pickup_day_offset = models.PositiveSmallIntegerField(default=1)
    pickup_start = models.TimeField(default=dt.time(8, 0))
    pickup_end = models.TimeField(default=dt.time(22, 0))
    maintenance_start = models.TimeField(null=True, blank=True, default=dt.time(22, 0))
    maintenance_end = models.TimeField(null=True, blank=True, default=dt.time(0, 0),
                                       help_text=_("00:00 means midnight at the end of the day."))
    cooldown_days = models.PositiveSmallIntegerField(default=0, help_text=_("Winners sit out this many days."))
    rollover_losers = models.BooleanField(default=True)
    weight_rule = models.CharField(max_length=10, choices=WeightRule.choices, default=WeightRule.EQUAL)
    weight_cap = models.PositiveSmallIntegerField(default=1)
    eligibility_lists = models.ManyToManyField("identity.EligibilityList", blank=True,
                                               help_text=_("A resident must be on at least one of these."))
    apportion_by_demand = models.BooleanField(
        default=False, help_text=_("Split each round's total supply across outlets in proportion to demand."))
    beacon_kind = models.CharField(max_length=10, choices=Beacon.choices, default=Beacon.DRAND)
    min_gap_seconds = models.PositiveIntegerField(default=60)
    notary_digits_min = models.PositiveSmallIntegerField(default=6)
    consent_version = models.CharField(max_length=20, default="2026-1")
    privacy_notice = models.TextField(blank=True)
    appeal_info = models.TextField(blank=True)
    rules_text = models.TextField(blank=True)
    # First-come mode (Hangzhou): each day's quota opens at ``opens_at`` local time.
    fulfilment = models.CharField(max_length=10, choices=Fulfilment.choices, default=Fulfilment.PICKUP)
    opens_at = models.TimeField(null=True, blank=True, help_text=_("First-come mode: when each day's quota opens."))
    quota_scope = models.CharField(max_length=10, choices=QuotaScope.choices, default=QuotaScope.CITY)
    daily_quota = models.PositiveIntegerField(null=True, blank=True,
                                              help_text=_("First-come mode, city-wide scope: units per day."))
    # What the campaign collects (minimal collection: nothing else is accepted on any channel).
    ask_health = models.BooleanField(default=False, help_text=_("Ask a health declaration (Guangzhou)."))
    retention_days = models.PositiveIntegerField(
        default=30, help_text=_("Personal data is deleted or anonymised this many days after the campaign ends."))

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(pickup_end__gt=F("pickup_start")), name="pickup_window_ordered"),
            models.CheckConstraint(condition=Q(weight_cap__gte=1), name="weight_cap_positive"),
            models.CheckConstraint(condition=Q(notary_digits_min__gte=1), name="notary_digits_positive"),
        ]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Round(models.Model):
    """One daily draw. Registrations made before ``draw_date`` at the draw time belong to it."""

    class State(models.TextChoices):
        OPEN = "open", _("open for registration")
        FROZEN = "frozen", _("entries frozen, draw in progress")
        DRAWN = "drawn", _("drawn and published")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rounds")
    draw_date = models.DateField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    total_packs = models.PositiveIntegerField(
        null=True, blank=True,
        help_text=_("With 'apportion by demand': the round's whole supply, split across outlets in proportion "
                    "to the first choices of its entrants when the entries are frozen."))

    class Meta:
        ordering = ["campaign_id", "draw_date"]
        constraints = [models.UniqueConstraint(fields=["campaign", "draw_date"], name="one_round_per_day")]
        verbose_name = _("round")
        verbose_name_plural = _("rounds")

    def __str__(self) -> str:
        return f"{self.campaign.slug} {self.draw_date:%Y-%m-%d}"

    @property
    def draw_id(self) -> str:
        return f"{self.campaign.slug}-{self.draw_date:%Y%m%d}"


class Supply(models.Model):
    """Units released to one outlet for one round, in winner packs (one pack = units_per_winner)."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="supplies")
    outlet = models.ForeignKey("places.Outlet", on_delete=models.PROTECT, related_name="supplies")
    packs = models.PositiveIntegerField()
    allocated = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["round", "outlet"], name="one_supply_per_outlet_round"),
            models.CheckConstraint(condition=Q(allocated__lte=F("packs")), name="supply_not_overallocated"),
        ]
        verbose_name = _("supply")
        verbose_name_plural = _("supplies")

    def __str__(self) -> str:
        return f"{self.round} {self.outlet.code}: {self.packs}"
