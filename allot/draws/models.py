"""A round's draw: commitment, reveal, results, and the published bundle files (kept in the database, so
that any app server can serve them: the servers stay stateless)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Draw(models.Model):
    class State(models.TextChoices):
        COMMITTED = "committed", _("committed: entries frozen, waiting for notary digits and beacon")
        PUBLISHED = "published", _("drawn and published")

    round = models.OneToOneField("campaigns.Round", on_delete=models.PROTECT, related_name="draw")
    draw_id = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.COMMITTED)
    committed_at = models.DateTimeField()
    entries = models.PositiveIntegerField()
    merkle_root = models.CharField(max_length=64)
    manifest_hash = models.CharField(max_length=64)
    beacon_kind = models.CharField(max_length=10)
    beacon_round = models.PositiveBigIntegerField()
    beacon_time = models.DateTimeField()
    notary_digits = models.CharField(max_length=64, blank=True)
    notary_source = models.CharField(max_length=20, blank=True,
                                     help_text=_("notary, or local-fallback in the demo (not a notary)"))
    notary_entered_at = models.DateTimeField(null=True, blank=True)
    notary = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    beacon_signature = models.CharField(max_length=512, blank=True)
    randomness = models.CharField(max_length=64, blank=True)
    seed = models.CharField(max_length=64, blank=True)
    winners = models.PositiveIntegerField(default=0)
    leftover = models.JSONField(default=dict, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verify_summary = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-committed_at"]
        verbose_name = _("draw")
        verbose_name_plural = _("draws")

    def __str__(self) -> str:
        return self.draw_id


class DrawFile(models.Model):
    """One file of a draw's published bundle, byte for byte."""

    draw = models.ForeignKey(Draw, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=40)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["draw", "name"], name="one_file_per_name")]

    def __str__(self) -> str:
        return f"{self.draw.draw_id}/{self.name}"
