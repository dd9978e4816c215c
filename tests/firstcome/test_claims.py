"""First-come claims through the service: one per person per day, never more than the quota."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from allot.core.errors import DomainError
from allot.firstcome import gate, store
from allot.firstcome.models import Claim, Quota
from allot.firstcome.services import claim_create, days_prepare, quota_plan_set, quota_set
from tests.firstcome.hangzhou import REDIS_DOWN_URL, build_hangzhou, claim_request


def _code(fn) -> str:
    with pytest.raises(DomainError) as exc:
        fn()
    return exc.value.code


def test_an_accepted_claim_takes_one_unit_and_creates_its_parcel(hangzhou):
    claim = claim_create(campaign=hangzhou, request=claim_request(1))

    quota = Quota.objects.get()
    assert (quota.units, quota.taken) == (3, 1)
    assert claim.parcel.building == "3" and claim.parcel.street.name == "北山街道"
    assert claim.units == 5


def test_the_same_person_gets_one_claim_per_day(hangzhou):
    claim_create(campaign=hangzhou, request=claim_request(1))

    assert _code(lambda: claim_create(campaign=hangzhou, request=claim_request(1, phone="13900000099"))) == \
        "already_claimed"
    assert Quota.objects.get().taken == 1


def test_claims_beyond_the_quota_are_told_sold_out(hangzhou):
    for n in range(3):
        claim_create(campaign=hangzhou, request=claim_request(n))

    assert _code(lambda: claim_create(campaign=hangzhou, request=claim_request(9))) == "sold_out"
    assert Claim.objects.count() == 3
    assert Quota.objects.get().taken == 3


def test_once_sold_out_a_claim_is_refused_without_a_database_query(hangzhou, django_assert_num_queries):
    for n in range(3):
        claim_create(campaign=hangzhou, request=claim_request(n))
    with pytest.raises(DomainError):
        claim_create(campaign=hangzhou, request=claim_request(9), list_ids=())

    with django_assert_num_queries(0), pytest.raises(DomainError) as exc:
        claim_create(campaign=hangzhou, request=claim_request(10), list_ids=())
    assert exc.value.code == "sold_out"


def test_before_the_opening_time_claims_are_refused_with_the_time(db):
    campaign = build_hangzhou(opens_at=dt.time(10, 0))
    early = dt.datetime(2026, 3, 2, 9, 59, tzinfo=campaign.tz)

    with pytest.raises(DomainError) as exc:
        claim_create(campaign=campaign, request=claim_request(1), now=early)
    assert exc.value.code == "not_open_yet"
    assert "10:00" in str(exc.value.message)
    claim_create(campaign=campaign, request=claim_request(1), now=early + dt.timedelta(minutes=1))


def test_a_campaign_that_is_not_active_takes_no_claims(hangzhou):
    hangzhou.status = "ended"
    hangzhou.save()

    assert _code(lambda: claim_create(campaign=hangzhou, request=claim_request(1))) == "campaign_closed"


def test_a_new_day_has_a_new_quota_and_the_same_person_may_claim_again(hangzhou):
    day1 = timezone.now()
    claim_create(campaign=hangzhou, request=claim_request(1), now=day1)

    claim_create(campaign=hangzhou, request=claim_request(1), now=day1 + dt.timedelta(days=1))

    assert sorted(Quota.objects.values_list("taken", flat=True)) == [1, 1]


def test_district_quotas_are_independent(db):
    campaign = build_hangzhou(scope="district", quota=None)
    quota_plan_set(campaign=campaign, scope_key="330106", units_per_day=1)
    quota_plan_set(campaign=campaign, scope_key="330102", units_per_day=1)

    claim_create(campaign=campaign, request=claim_request(1))
    assert _code(lambda: claim_create(campaign=campaign, request=claim_request(2))) == "sold_out"
    claim_create(campaign=campaign, request=claim_request(3, district="330102", street="湖滨街道",
                                                          committee="东坡路社区"))

    assert dict(Quota.objects.values_list("scope_key", "taken")) == {"330106": 1, "330102": 1}


def test_an_area_without_a_plan_has_no_quota(db):
    campaign = build_hangzhou(scope="district", quota=None)

    assert _code(lambda: claim_create(campaign=campaign, request=claim_request(1))) == "no_quota"


def test_raising_a_sold_out_quota_clears_the_flag(hangzhou, django_capture_on_commit_callbacks):
    for n in range(3):
        claim_create(campaign=hangzhou, request=claim_request(n))
    with pytest.raises(DomainError):
        claim_create(campaign=hangzhou, request=claim_request(8))
    quota = Quota.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        quota_set(campaign=hangzhou, day=quota.day, scope_key="city", units=4)

    claim_create(campaign=hangzhou, request=claim_request(8))
    assert Quota.objects.get().taken == 4


def test_a_quota_cannot_be_set_below_what_is_taken(hangzhou):
    claim = claim_create(campaign=hangzhou, request=claim_request(1))

    assert _code(lambda: quota_set(campaign=hangzhou, day=claim.day, scope_key="city", units=0)) == \
        "quota_below_taken"


# --- the Redis path -------------------------------------------------------------------------------------

def test_with_redis_a_claim_is_counted_in_redis_and_stored_in_the_database(hangzhou, redis_store):
    claim = claim_create(campaign=hangzhou, request=claim_request(1))

    assert store.left(campaign_id=hangzhou.pk, day=claim.day, quota_ids=[claim.quota_id]) == {claim.quota_id: 2}
    assert Quota.objects.get().taken == 1
    assert Claim.objects.count() == 1


def test_with_redis_the_same_person_is_refused_by_redis(hangzhou, redis_store, django_assert_num_queries):
    claim_create(campaign=hangzhou, request=claim_request(1), list_ids=())

    with django_assert_num_queries(0), pytest.raises(DomainError) as exc:
        claim_create(campaign=hangzhou, request=claim_request(1), list_ids=())
    assert exc.value.code == "already_claimed"


def test_with_redis_claims_beyond_the_quota_are_sold_out(hangzhou, redis_store):
    for n in range(3):
        claim_create(campaign=hangzhou, request=claim_request(n))

    assert _code(lambda: claim_create(campaign=hangzhou, request=claim_request(9))) == "sold_out"
    assert Quota.objects.get().taken == 3


def test_redis_down_refuses_claims_with_503_and_accepts_nothing(hangzhou, settings):
    settings.REDIS_URL = REDIS_DOWN_URL

    with pytest.raises(DomainError) as exc:
        claim_create(campaign=hangzhou, request=claim_request(1))

    assert (exc.value.code, exc.value.status) == ("temporarily_unavailable", 503)
    assert Claim.objects.count() == 0
    assert Quota.objects.get().taken == 0


def test_an_emptied_redis_is_rebuilt_from_the_database(hangzhou, redis_store):
    first = claim_create(campaign=hangzhou, request=claim_request(1))
    claim_create(campaign=hangzhou, request=claim_request(2))
    redis_store.flushdb()

    assert _code(lambda: claim_create(campaign=hangzhou, request=claim_request(1))) == "already_claimed"
    assert store.left(campaign_id=hangzhou.pk, day=first.day, quota_ids=[first.quota_id]) == {first.quota_id: 1}
    claim_create(campaign=hangzhou, request=claim_request(3))
    assert _code(lambda: claim_create(campaign=hangzhou, request=claim_request(4))) == "sold_out"
    assert Quota.objects.get().taken == 3


def test_when_the_database_already_has_the_claim_the_redis_unit_is_given_back(hangzhou, redis_store):
    claim = claim_create(campaign=hangzhou, request=claim_request(1))
    _ready, people = store.day_keys(hangzhou.pk, claim.day)
    redis_store.delete(people)  # Redis forgot the person (e.g. a partial loss), the database did not

    assert _code(lambda: claim_create(campaign=hangzhou, request=claim_request(1))) == "already_claimed"
    assert store.left(campaign_id=hangzhou.pk, day=claim.day, quota_ids=[claim.quota_id]) == {claim.quota_id: 2}


def test_when_the_database_is_sold_out_but_redis_is_not_the_database_wins(hangzhou, redis_store):
    claim = claim_create(campaign=hangzhou, request=claim_request(1))
    Quota.objects.filter(pk=claim.quota_id).update(units=1)  # e.g. lowered in the database only

    assert _code(lambda: claim_create(campaign=hangzhou, request=claim_request(2))) == "sold_out"
    assert Claim.objects.count() == 1
    assert store.left(campaign_id=hangzhou.pk, day=claim.day, quota_ids=[claim.quota_id]) == {claim.quota_id: 0}
    assert gate.is_sold_out(slug=hangzhou.slug, day=claim.day, scope_key=gate.WHOLE)


def test_days_prepare_opens_the_quota_and_loads_redis_before_the_surge(hangzhou, redis_store):
    opened = days_prepare()

    quota = Quota.objects.get()
    assert opened == 1
    assert store.left(campaign_id=hangzhou.pk, day=quota.day, quota_ids=[quota.pk]) == {quota.pk: 3}


def test_a_day_loaded_by_another_process_is_not_loaded_again_over_claims_in_flight(hangzhou, redis_store):
    """Two processes both find the day missing; the first loads it and a claim takes a unit in Redis whose row is
    not written yet; the second gets the lock only then. It must not reload the day from the database, which does
    not have that claim: the unit and the person's place would be handed out again."""
    days_prepare()
    quota = Quota.objects.get()
    taken = store.take(campaign_id=hangzhou.pk, day=quota.day, quota_id=quota.pk, person="in-flight")
    assert taken == store.TAKEN   # in Redis; its batch not yet in the database
    loads = []

    def load():
        loads.append(1)
        return [], {quota.pk: quota.units - quota.taken}   # what the database says: no claim yet

    rebuilt = store.day_rebuild(campaign_id=hangzhou.pk, day=quota.day, load=load)

    assert rebuilt is False and loads == []
    assert store.left(campaign_id=hangzhou.pk, day=quota.day, quota_ids=[quota.pk]) == {quota.pk: 2}
    assert store.take(campaign_id=hangzhou.pk, day=quota.day, quota_id=quota.pk, person="in-flight") == store.ALREADY


def test_the_units_left_asked_before_the_opening_fill_the_claim_path_s_quota_cache(hangzhou):
    from allot.firstcome import selectors

    days_prepare()
    quota = Quota.objects.get()
    selectors.caches_clear()
    assert selectors.quota_id_cached(hangzhou.pk, quota.day, quota.scope_key) is None

    selectors.remaining(campaign=hangzhou, day=quota.day)   # what every resident's page asks every few seconds

    assert selectors.quota_id_cached(hangzhou.pk, quota.day, quota.scope_key) == quota.pk


def test_the_record_is_asked_again_whether_the_whole_campaign_is_sold_out(db):
    # given: two districts with a unit each; one district's claim taken; the other district has no row today yet
    from allot.firstcome import selectors
    from allot.firstcome.services import sold_out_recheck

    campaign = build_hangzhou(scope="district", quota=None)
    quota_plan_set(campaign=campaign, scope_key="330106", units_per_day=1)
    quota_plan_set(campaign=campaign, scope_key="330102", units_per_day=1)
    claim_create(campaign=campaign, request=claim_request(1))
    day = Quota.objects.get().day
    gate.flags_clear()

    # when / then: an area without its row has not sold out; nor has an area with a unit left
    assert sold_out_recheck(slug=campaign.slug, day=day) is False
    quota_set(campaign=campaign, day=day, scope_key="330102", units=1)
    assert sold_out_recheck(slug=campaign.slug, day=day) is False
    assert not gate.is_sold_out(slug=campaign.slug, day=day, scope_key=gate.WHOLE)

    # when: the last unit is taken, and the flags lapse
    claim_create(campaign=campaign, request=claim_request(3, district="330102", street="湖滨街道",
                                                          committee="东坡路社区"))
    gate.flags_clear()

    # then: the record says every area is sold out, and the whole-campaign flag is set again; not for another day,
    # nor for a campaign that does not exist
    assert sold_out_recheck(slug=campaign.slug, day=day - dt.timedelta(days=1)) is False
    assert sold_out_recheck(slug="no-such-campaign", day=day) is False
    assert not gate.is_sold_out(slug=campaign.slug, day=day, scope_key=gate.WHOLE)
    assert sold_out_recheck(slug=campaign.slug, day=day) is True
    assert gate.is_sold_out(slug=campaign.slug, day=day, scope_key=gate.WHOLE)
    assert selectors.remaining(campaign=campaign, day=day).left == 0

    # and: the look loads nothing that the refusals waiting for it would wait for too: not the gazetteer, which
    # the pages' polls and the claims load (a crowd's look came after the gazetteer expired in the same quiet spell)
    from allot.delivery import addresses

    addresses.gazetteer_clear()
    gate.flags_clear()
    assert sold_out_recheck(slug=campaign.slug, day=day) is True
    assert not addresses._gaz
