"""A resident's entry into one round. One per person per round, enforced by a unique constraint."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Registration(models.Model):
    class Status(models.TextChoices):
        REGISTERED = "registered", _("registered, waiting for the draw")
        WON = "won", _("won")
        LOST = "lost", _("not drawn")
        EXCLUDED = "excluded", _("not entered (won within the cooldown)")
        WITHDRAWN = "withdrawn", _("withdrawn")

    class Channel(models.TextChoices):
        WEB = "web", _("web page")
        API = "api", _("app / mini-program")
        SMS = "sms", _("SMS")
        DESK = "desk", _("committee desk")
        ROLLOVER = "rollover", _("rolled over from the previous round")

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.PROTECT, related_name="registrations")
    round = models.ForeignKey("campaigns.Round", on_delete=models.PROTECT, related_name="registrations")
    person = models.ForeignKey("identity.Person", on_delete=models.PROTECT, related_name="registrations")
    number = models.CharField(max_length=16, unique=True, help_text=_("Registration number shown to the resident."))
    entry_id = models.CharField(max_length=32, unique=True, help_text=_("128 random bits, the draw's entry id."))
    district = models.ForeignKey("places.Division", on_delete=models.PROTECT, related_name="+")
    outlet = models.ForeignKey("places.Outlet", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    accept_any = models.BooleanField(default=False, help_text=_("Accepts any outlet of the district (服从分配)."))
    weight = models.PositiveIntegerField(default=1)
    losses_before = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REGISTERED)
    allocated_outlet = models.ForeignKey("places.Outlet", null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    consent_version = models.CharField(max_length=20, help_text=_(
        "Version of the notice the resident agreed to for their ID number (sensitive, PIPL Art. 28-29)."))
    consent_at = models.DateTimeField(help_text=_("When the resident agreed to the use of their ID number."))
    consent_health_version = models.CharField(max_length=20, blank=True, help_text=_(
        "Version of the notice agreed to for the health declaration; empty when the campaign asks none."))
    consent_health_at = models.DateTimeField(null=True, blank=True)
    health_sealed = models.TextField(blank=True, help_text="AES-GCM ciphertext of the health declaration (JSON)")
    rolled_from = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="rolled_to")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["round", "person"], name="one_registration_per_person_round"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="registration_weight_positive"),
            models.CheckConstraint(condition=Q(outlet__isnull=False) | Q(accept_any=True),
                                   name="registration_has_outlet_or_any"),
            models.CheckConstraint(condition=~Q(status="won") | Q(allocated_outlet__isnull=False),
                                   name="winner_has_outlet"),
            models.CheckConstraint(condition=Q(health_sealed="") | Q(consent_health_at__isnull=False),
                                   name="health_only_with_consent"),
        ]
        indexes = [models.Index(fields=["round", "status"])]
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")

    def __str__(self) -> str:
        return self.number
