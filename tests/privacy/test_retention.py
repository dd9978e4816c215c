"""Issue 5 §9: after a campaign's retention period the scheduled job erases its personal data, keeping the
counts and the published draw bundles. The clock is moved forward; the whole database is then searched."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from allot.draws.models import DrawFile
from allot.identity.models import EligibilityEntry, Person
from allot.identity.services import id_index, phone_index
from allot.privacy.models import RetentionRun
from allot.privacy.retention import campaign_personal_data_erase, erase_after
from allot.registrations.models import Registration
from allot.worker.jobs import run_due_jobs
from tests.security.dataset import City, build_city


@pytest.fixture
def city(xiamen, django_capture_on_commit_callbacks) -> City:
    c = build_city(xiamen, django_capture_on_commit_callbacks)
    c.campaign.ends_on, c.campaign.retention_days = dt.date(2026, 1, 31), 30
    c.campaign.save(update_fields=["ends_on", "retention_days"])
    return c


def _dump() -> str:
    connection.ensure_connection()
    return "\n".join(connection.connection.iterdump())


def _traces(city: City, residents: list) -> list[str]:
    """Everything that would tie a row to one of these residents: values, masks, blind indexes, sealed tokens."""
    out = []
    for r in residents:
        out += [*r.spellings, id_index(r.id_number), phone_index(r.phone)]
    for p in Person.objects.filter(id_index__in=[id_index(r.id_number) for r in residents]):
        out += [p.id_masked, p.phone_masked, p.name_masked, p.id_sealed, p.phone_sealed, p.name_sealed]
    return [t for t in out if t]


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(3, 0), tzinfo=dt.UTC)


def test_nothing_is_erased_before_the_retention_period_is_over(city):
    # when the job runs on the last day of retention (local time)
    last_day = erase_after(city.campaign) - dt.timedelta(days=1)
    run_due_jobs(holder="w", last_run={}, now=_at(last_day))
    # then the campaign's people are still there
    assert not RetentionRun.objects.exists()
    assert all(Person.objects.get(pk=r.person_id).id_sealed for r in city.registrations)


def test_after_retention_the_job_leaves_nothing_personal_but_keeps_counts_and_bundles(city):
    # given what counts and what was published before
    counts = Counter(Registration.objects.filter(campaign=city.campaign).values_list("status", flat=True))
    bundles = {f.pk: f.sha256 for f in DrawFile.objects.all()}
    xiamen_residents = city.residents[:4]
    traces = _traces(city, xiamen_residents)
    dump_before = _dump()
    stored = [p for p in Person.objects.filter(id_index__in=[id_index(r.id_number) for r in xiamen_residents])]
    findable = [v for p in stored for v in (p.id_index, p.id_sealed, p.phone_sealed, p.name_sealed, p.id_masked,
                                            p.phone_masked, p.name_masked)]
    assert len(findable) == 4 * 7 and all(t in dump_before for t in findable), "traces must be findable"
    # when the clock is past ends_on + retention_days and the scheduled job runs
    ran = run_due_jobs(holder="w", last_run={}, now=_at(erase_after(city.campaign)))
    # then the retention job ran and no trace of those residents is anywhere in the database
    assert "retention" in ran
    dump = _dump()
    assert [t for t in traces if t in dump] == []
    assert not EligibilityEntry.objects.filter(eligibility_list__code="hukou").exists()
    # and the counts by status and the published bundles are unchanged
    assert Counter(Registration.objects.filter(campaign=city.campaign).values_list("status", flat=True)) == counts
    assert {f.pk: f.sha256 for f in DrawFile.objects.all()} == bundles
    run = RetentionRun.objects.get(campaign=city.campaign)
    assert run.people_erased == 4


def test_a_person_still_registered_in_a_live_campaign_keeps_that_registration_only(city):
    # given resident 1 also registered in the other (live) campaign
    from allot.registrations.services import registration_create
    from tests.conftest import registration_request

    r1 = city.residents[0]
    live_reg = registration_create(campaign=city.other_campaign, request=registration_request(
        r1.n, name=r1.name, id_number=r1.id_number, phone=r1.phone))
    old_reg = city.registrations[0]
    # when the first campaign is erased
    campaign_personal_data_erase(campaign=city.campaign, now=timezone.now())
    # then the live registration still has the person, the erased one points to a blank person
    live_reg.refresh_from_db()
    old_reg.refresh_from_db()
    assert live_reg.person.id_index == id_index(r1.id_number) and live_reg.person.id_sealed
    assert old_reg.person_id != live_reg.person_id and old_reg.person.id_sealed == ""
    assert old_reg.person.id_index.startswith("erased:")


def test_erasing_twice_does_nothing_more(city):
    first = campaign_personal_data_erase(campaign=city.campaign, now=timezone.now())
    second = campaign_personal_data_erase(campaign=city.campaign, now=timezone.now())
    assert first.pk == second.pk and RetentionRun.objects.count() == 1


def test_a_first_come_delivery_campaign_loses_claimants_and_addresses_after_retention(db):
    from allot.delivery.models import Parcel
    from allot.firstcome.models import Claim
    from allot.firstcome.services import claim_create
    from tests.firstcome.hangzhou import build_hangzhou, claim_request, clear_caches

    # given a delivery campaign that ended, with a claim and its parcel address
    clear_caches()
    campaign = build_hangzhou(quota=3)
    claim = claim_create(campaign=campaign, request=claim_request(1, room="1203", line="东门快递柜"))
    campaign.ends_on, campaign.retention_days = dt.date(2026, 1, 31), 30
    campaign.save(update_fields=["ends_on", "retention_days"])
    person = Person.objects.get(pk=claim.person_id)
    assert person.id_sealed and "东门快递柜" in _dump()
    # when its retention is over
    campaign_personal_data_erase(campaign=campaign, now=_at(erase_after(campaign)))
    # then the claimant is blank, the address is gone below the street, the count stays
    person.refresh_from_db()
    assert (person.id_sealed, person.phone_sealed, person.name_sealed, person.id_masked) == ("", "", "", "")
    parcel = Parcel.objects.get(claim=claim)
    assert (parcel.building, parcel.unit, parcel.room, parcel.line, parcel.committee_id) == ("", "", "", "", None)
    assert Claim.objects.filter(campaign=campaign).count() == 1
    assert "东门快递柜" not in _dump() and "1203" not in parcel.room
