"""What proves a resident is a person and the owner of a phone: used proof-of-work challenges (replay memory),
rate-limit counters (when Redis is not configured), one-time codes and the SMS outbox.

Nothing here holds a raw ID number or phone number: phones are blind-indexed (lookup) and sealed (sending),
message bodies are sealed because they carry codes and registration numbers."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from allot.core.fields import FixedCharField

OTP_MAX_ATTEMPTS = 5


class UsedChallenge(models.Model):
    """An ALTCHA challenge that has been redeemed once; a second use is a replay. Kept until it expires."""

    digest = FixedCharField(max_length=64, primary_key=True, help_text="SHA-256 of the challenge signature (hex)")
    purpose = models.CharField(max_length=20)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("used challenge")
        verbose_name_plural = _("used challenges")


class RateCounter(models.Model):
    """A fixed-window counter, used only when REDIS_URL is not set. ``key`` holds hashes, never raw values."""

    key = models.CharField(max_length=120)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("rate counter")
        verbose_name_plural = _("rate counters")
        # a constraint, not ``unique=True``: on PostgreSQL that also built a second (LIKE) index of the column, which
        # every new counter wrote and nothing reads (ADR 0009, twelfth- and thirteenth-session amendments)
        constraints = [models.UniqueConstraint(fields=["key"], name="ratecounter_key_once")]


class OneTimeCode(models.Model):
    """A 6-digit code sent by SMS to the phone on file. The client holds ``token``; the code is stored as a keyed
    hash bound to the token. Single use, at most ``OTP_MAX_ATTEMPTS`` tries, short-lived. A code issued for an
    ID number nobody registered has no person and can never be verified (the client cannot tell)."""

    class Purpose(models.TextChoices):
        STATUS = "status", _("see my registration")

    token = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    scope = models.CharField(max_length=60, blank=True, help_text=_("What the code opens, e.g. a campaign slug."))
    person = models.ForeignKey("identity.Person", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="+")
    phone_index = models.CharField(max_length=64, blank=True, help_text="blind index of the phone it was sent to")
    code_hash = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(attempts__lte=OTP_MAX_ATTEMPTS),
                                              name="otp_attempts_capped")]
        verbose_name = _("one-time code")
        verbose_name_plural = _("one-time codes")


class SmsMessage(models.Model):
    """The outbox: written in the same transaction as what it reports, sent by the worker after commit."""

    class Purpose(models.TextChoices):
        OTP = "otp", _("one-time code")
        RESULT = "result", _("registration result")
        ALERT = "alert", _("security notice")

    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    phone_index = models.CharField(max_length=64, db_index=True)
    phone_sealed = models.TextField()
    phone_masked = models.CharField(max_length=16)
    body_sealed = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["sent_at", "created_at"], name="sms_outbox_pending")]
        verbose_name = _("SMS message")
        verbose_name_plural = _("SMS outbox")

    def __str__(self) -> str:
        return f"{self.purpose} → {self.phone_masked}"
