"""First come, first served (Hangzhou): a daily quota per area, one claim per person per campaign day.

``Quota.taken`` moves only by a conditional UPDATE (``taken = taken + 1 WHERE taken < units``) in the same
transaction as the claim insert, and ``CheckConstraint(taken <= units)`` is the backstop; the unique
constraint (campaign, day, person) makes a second claim of the same person impossible. With Redis in front
(see ``store.py``) these rows stay the record of truth.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

#: ``scope_key`` of a city-wide quota; otherwise a district code or an outlet code.
CITY_SCOPE = "city"


class QuotaPlan(models.Model):
    """The standing daily units of one area (district or outlet scope). A city-wide campaign may go without a
    plan: its ``daily_quota`` is the plan."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="quota_plans")
    scope_key = models.CharField(max_length=32, help_text=_("'city', a district code or an outlet code."))
    units_per_day = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "scope_key"], name="one_plan_per_scope")]
        verbose_name = _("quota plan")
        verbose_name_plural = _("quota plans")

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.scope_key}: {self.units_per_day}/day"


class Quota(models.Model):
    """The units of one area on one campaign day: the plan, plus units returned by undeliverable parcels."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="quotas")
    day = models.DateField()
    scope_key = models.CharField(max_length=32)
    units = models.PositiveIntegerField(help_text=_("Claims that can be accepted this day (returned units included)."))
    returned = models.PositiveIntegerField(default=0, help_text=_("Of which came back from undeliverable parcels."))
    taken = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day", "scope_key"], name="one_quota_per_scope_day"),
            models.CheckConstraint(condition=Q(taken__lte=F("units")), name="quota_not_oversold"),
            models.CheckConstraint(condition=Q(returned__lte=F("units")), name="quota_returned_within_units"),
        ]
        verbose_name = _("daily quota")
        verbose_name_plural = _("daily quotas")

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.day:%Y-%m-%d} {self.scope_key}: {self.taken}/{self.units}"

    @property
    def left(self) -> int:
        return max(0, self.units - self.taken)


class Claim(models.Model):
    """An accepted claim. It exists only if a unit was taken for it in the same transaction."""

    class Channel(models.TextChoices):
        WEB = "web", _("web page")
        API = "api", _("app / mini-program")

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.PROTECT, related_name="claims",
                                 db_index=False)   # one_claim_per_person_day leads with it
    quota = models.ForeignKey(Quota, on_delete=models.PROTECT, related_name="claims")
    day = models.DateField()
    person = models.ForeignKey("identity.Person", on_delete=models.PROTECT, related_name="claims")
    number = models.CharField(max_length=16, help_text=_("Claim number shown to the resident."))   # unique: Meta
    scope_key = models.CharField(max_length=32)
    district = models.ForeignKey("places.Division", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", db_index=False)
    outlet = models.ForeignKey("places.Outlet", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               db_index=False)
    units = models.PositiveIntegerField(help_text=_("Units of the good for this claim (the per-person limit)."))
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    consent_version = models.CharField(max_length=20)
    consent_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day", "person"], name="one_claim_per_person_day"),
            # a constraint, not unique=True: PostgreSQL adds no LIKE index for it (Person's Meta)
            models.UniqueConstraint(fields=["number"], name="claim_number_once"),
        ]
        verbose_name = _("claim")
        verbose_name_plural = _("claims")

    def __str__(self) -> str:
        return self.number
