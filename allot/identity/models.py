"""Personal data, stored only as keyed blind indexes (lookup, de-duplication) and AES-GCM ciphertexts
(lawful reveal), plus masked forms for display. See docs/adr/0004-identity-storage.md."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Person(models.Model):
    id_index = models.CharField(max_length=64, help_text="HMAC blind index of the ID number")   # unique: Meta
    id_sealed = models.TextField(help_text="AES-GCM ciphertext of the ID number")
    id_masked = models.CharField(max_length=24)
    phone_index = models.CharField(max_length=64)   # indexed: Meta
    phone_sealed = models.TextField()
    phone_masked = models.CharField(max_length=16)
    name_sealed = models.TextField()
    name_masked = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # as constraints and indexes, not unique=True / db_index=True: on PostgreSQL those add a second index to a
        # text column, for LIKE, that every first-come claim would write and nothing reads (docs/adr/0009)
        constraints = [models.UniqueConstraint(fields=["id_index"], name="person_id_index_once")]
        indexes = [models.Index(fields=["phone_index"], name="person_phone_index")]
        verbose_name = _("person")
        verbose_name_plural = _("people")

    def __str__(self) -> str:
        return f"{self.name_masked} {self.id_masked}"


class EligibilityList(models.Model):
    """A list such as "Xiamen hukou" or "Xiamen social insurance", imported from an agency's CSV."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    source = models.CharField(max_length=200, blank=True, help_text=_("The department that supplies the list."))
    appeal_info = models.TextField(blank=True, help_text=_("Where a resident who is missing from the list can appeal."))
    imported_at = models.DateTimeField(null=True, blank=True)
    size = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("eligibility list")
        verbose_name_plural = _("eligibility lists")

    def __str__(self) -> str:
        return self.name


class EligibilityEntry(models.Model):
    eligibility_list = models.ForeignKey(EligibilityList, on_delete=models.CASCADE, related_name="entries")
    id_index = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["eligibility_list", "id_index"], name="eligibility_once")]
        indexes = [models.Index(fields=["id_index"])]
