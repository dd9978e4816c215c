"""With Redis, a claim's proof of work is redeemed, its attempt counted and its unit taken in one round trip
(``store.take_batch``, run by the claim writer for ``resident.claim_submit``), with the answers and the order of
the separate steps: a replayed proof counts nothing and takes nothing; an attempt over a limit is counted, spends
its proof and takes nothing; a claim the service refuses before its unit is counted and spends its proof."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from allot.firstcome import store
from allot.firstcome.models import Claim, Quota
from tests.abuse.proof import solved
from tests.firstcome.hangzhou import SLUG, build_hangzhou, claim_body, clear_caches, redis_store  # noqa: F401

API = f"/api/v1/campaigns/{SLUG}/claims"
LONG = 10**7


@pytest.fixture(autouse=True)
def _fresh():
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def campaign(db):
    return build_hangzhou(quota=3)


def _post(body: dict):
    return Client().post(API, json.dumps(body), content_type="application/json", REMOTE_ADDR="127.0.0.1")


def _codes(response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def _scripts_run(r) -> int:
    return int(r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


def _left(campaign) -> int:
    quota = Quota.objects.get(campaign=campaign)
    return store.left(campaign_id=campaign.pk, day=quota.day, quota_ids=[quota.pk])[quota.pk]


def test_an_accepted_claim_makes_one_script_call(campaign, redis_store):  # noqa: F811
    # given: the day loaded (the first claim loads it)
    assert _post(claim_body(1)).status_code == 201
    before = _scripts_run(redis_store)

    # when
    response = _post(claim_body(2))

    # then: proof, counters and unit in one EVALSHA (it was two)
    assert response.status_code == 201
    assert _scripts_run(redis_store) - before == 1
    assert _left(campaign) == 1


def test_a_replayed_proof_takes_no_unit(campaign, redis_store):  # noqa: F811
    proof = solved("claim")
    assert _post(claim_body(1, altcha=proof)).status_code == 201

    replayed = _post(claim_body(2, altcha=proof))

    assert (replayed.status_code, _codes(replayed)) == (400, ["altcha_replayed"])
    assert _left(campaign) == 2
    assert Claim.objects.count() == 1


def test_an_attempt_over_a_limit_is_counted_and_takes_no_unit(campaign, redis_store, settings):  # noqa: F811
    # given: one claim per phone
    settings.ALLOT_RATE_LIMITS = {"claim": {"phone": (1, LONG)}}
    assert _post(claim_body(1)).status_code == 201

    # when: another ID number with the same phone
    proof = solved("claim")
    limited = _post(claim_body(2, phone=claim_body(1)["phone"], altcha=proof))

    # then: refused, counted (the phone's counter is at 2), the proof spent, no unit taken, nobody remembered
    assert (limited.status_code, _codes(limited)) == (429, ["rate_limited"])
    assert sorted(int(redis_store.get(k)) for k in redis_store.keys("*:claim:phone:*")) == [2]
    assert _codes(_post(claim_body(3, altcha=proof))) == ["altcha_replayed"]
    assert _left(campaign) == 2
    _ready, people = store.day_keys(campaign.pk, Quota.objects.get().day)
    assert redis_store.scard(people) == 1


def test_a_claim_refused_before_its_unit_is_counted_and_spends_its_proof(campaign, redis_store):  # noqa: F811
    # given: the day loaded
    assert _post(claim_body(1)).status_code == 201
    proof = solved("claim")

    # when: an address outside the campaign's city
    refused = _post(claim_body(2, district="350203", altcha=proof))

    # then: its own error; counted; the proof spent; no unit taken
    assert refused.status_code == 400 and "district" in {e["field"] for e in refused.json()["errors"]}
    assert len(redis_store.keys("*:claim:id:*")) == 2
    assert _codes(_post(claim_body(3, altcha=proof))) == ["altcha_replayed"]
    assert _left(campaign) == 2


def test_a_day_not_yet_in_redis_is_loaded_and_the_claim_counted_once(campaign, redis_store):  # noqa: F811
    # given: nothing in Redis yet (first claim of the day)
    assert not redis_store.keys("*fc:*")

    # when
    response = _post(claim_body(1))

    # then: accepted; counted once; the day loaded from the database with the unit taken
    assert response.status_code == 201
    assert [int(redis_store.get(k)) for k in redis_store.keys("*:claim:id:*")] == [1]
    assert _left(campaign) == 2


def test_the_script_counts_every_counter_and_refuses_past_a_limit(campaign, redis_store):  # noqa: F811
    # the script on its own: counters 1 and 3 of 3 over their limits (0 and 1 allowed; counter 3 already at 1)
    redis_store.set("c3", 1)
    day = dt.date(2026, 11, 25)
    head = store.take_counted(campaign_id=campaign.pk, day=day, quota_id=1, person="p",
                              once=("once", 60, "claim"), counters=[("c1", 60, 0), ("c2", 60, 5), ("c3", 60, 1)])

    assert head == store.LIMITED
    assert [int(redis_store.get(k)) for k in ("c1", "c2", "c3")] == [1, 1, 2]
    assert store.take_counted(campaign_id=campaign.pk, day=day, quota_id=1, person="p",
                              once=("once", 60, "claim"), counters=[]) == store.REPLAYED
