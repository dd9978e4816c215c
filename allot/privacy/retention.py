"""Retention: ``retention_days`` after a campaign's ``ends_on`` (in the campaign's time zone), its residents'
personal data is irreversibly erased, once, by the scheduled job ``retention``.

What goes: the sealed name, ID number and phone, their blind indexes and masked forms (the person row is blanked,
or — when the same person is still registered in a campaign whose retention is not over — this campaign's
registrations are moved to a new blank person, so nothing links them back), and the entries of eligibility lists
that no live campaign uses; first-come claims are treated like registrations, delivery addresses lose everything
below the street, and sealed health declarations are emptied. (One-time codes live 10 minutes and SMS messages
7 days after sending: the ``sms`` job purges them.) Other apps that come to hold personal data per campaign add
an eraser to ``ERASERS``.

What stays: registrations as counts (round, district, outlet, status, channel), draws and their published
bundles (entry ids are random and never linked to a person after this), pickup codes and the audit and access
logs (which hold no personal data).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable

from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from allot.campaigns.models import Campaign
from allot.core.audit import log_action
from allot.core.locking import lock_one
from allot.delivery.models import Parcel
from allot.firstcome.models import Claim
from allot.identity.models import EligibilityEntry, EligibilityList, Person
from allot.privacy.models import RetentionRun
from allot.registrations.models import Registration

logger = logging.getLogger("allot.privacy")

#: Extra erasers: ``eraser(campaign) -> rows erased``, run inside the erasure's transaction.
ERASERS: list[Callable[[Campaign], int]] = []

BLANK = {"id_sealed": "", "id_masked": "", "phone_index": "", "phone_sealed": "", "phone_masked": "",
         "name_sealed": "", "name_masked": ""}


def erase_after(campaign: Campaign) -> dt.date | None:
    """The first local day on which the campaign's personal data is erased (None: the campaign has no end)."""
    if campaign.ends_on is None:
        return None
    return campaign.ends_on + dt.timedelta(days=campaign.retention_days + 1)


def campaigns_due_for_erasure(*, now: dt.datetime | None = None) -> list[Campaign]:
    now = now or timezone.now()
    done = RetentionRun.objects.values("campaign_id")
    due = []
    for campaign in Campaign.objects.filter(ends_on__isnull=False).exclude(pk__in=done).order_by("pk"):
        first_day = erase_after(campaign)
        if first_day is not None and timezone.localtime(now, campaign.tz).date() >= first_day:
            due.append(campaign)
    return due


def campaign_personal_data_erase(*, campaign: Campaign, now: dt.datetime | None = None) -> RetentionRun:
    """Erase the campaign's personal data (idempotent: a second call returns the first run)."""
    now = now or timezone.now()
    with transaction.atomic():
        lock_one(Campaign, campaign.pk)
        existing = RetentionRun.objects.filter(campaign=campaign).first()
        if existing is not None:
            return existing
        regs = Registration.objects.filter(campaign=campaign)
        claims = Claim.objects.filter(campaign=campaign)
        holders = (regs, claims)  # every per-campaign row that points at a person
        person_ids = set(regs.values_list("person_id", flat=True)) | set(claims.values_list("person_id", flat=True))
        shared = (set(Registration.objects.filter(person_id__in=person_ids).exclude(campaign=campaign)
                      .values_list("person_id", flat=True))
                  | set(Claim.objects.filter(person_id__in=person_ids).exclude(campaign=campaign)
                        .values_list("person_id", flat=True)))
        # People only this campaign knows: blank the row in place. The unique id_index becomes "erased:<pk>".
        own = person_ids - shared
        Person.objects.filter(pk__in=own).update(
            id_index=Concat(Value("erased:"), Cast("pk", output_field=CharField())), **BLANK)
        # People still registered in a live campaign: this campaign's registrations move to a new blank person.
        for person_id in sorted(shared):
            blank = Person.objects.create(id_index=f"erased:{secrets.token_hex(16)}", **BLANK)
            for rows in holders:
                rows.filter(person_id=person_id).update(person=blank)
        # Health declarations (sensitive) and delivery addresses below the street go entirely.
        regs.exclude(health_sealed="").update(health_sealed="")
        Parcel.objects.filter(claim__campaign=campaign).update(building="", unit="", room="", line="",
                                                               committee=None, status_note="")
        # Eligibility entries of lists that no campaign with retention still running uses.
        live = Campaign.objects.exclude(pk=campaign.pk).exclude(pk__in=RetentionRun.objects.values("campaign_id"))
        lists = EligibilityList.objects.filter(campaign=campaign).exclude(campaign__in=live)
        entries_deleted, _detail = EligibilityEntry.objects.filter(eligibility_list__in=lists).delete()
        lists.update(size=0)
        for eraser in ERASERS:
            eraser(campaign)
        run = RetentionRun.objects.create(campaign=campaign, erased_at=now, people_erased=len(person_ids),
                                          registrations=regs.count(), eligibility_entries_deleted=entries_deleted)
        log_action("allot.retention.erased", obj=campaign, actor_label="scheduler", data={
            "people": len(person_ids), "registrations": run.registrations, "eligibility_entries": entries_deleted})
    return run


def job_retention(now: dt.datetime) -> int:
    """Scheduled job: erase every campaign whose retention period is over."""
    done = 0
    for campaign in campaigns_due_for_erasure(now=now):
        run = campaign_personal_data_erase(campaign=campaign, now=now)
        logger.info("retention: campaign %s erased (%d people)", campaign.slug, run.people_erased)
        done += 1
    return done
