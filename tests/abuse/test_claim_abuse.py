"""First-come claims behind the same abuse controls as registration: a proof of work per claim (accepted once) and
rate limits per client address, phone and ID number, failing closed (a bot with many made-up, checksum-valid ID
numbers must not take the day's quota)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.test import Client

from allot.firstcome.models import Claim
from allot.verification.buffer import write_behind
from allot.verification.models import RateCounter, UsedChallenge
from allot.verification.proof import challenge_create, challenge_solve, proofs_presolved
from allot.verification.ratelimit import DEFAULT_LIMITS
from tests.abuse.conftest import CLOSED_PORT_URL
from tests.abuse.proof import solved
from tests.conftest import make_id_number, make_phone
from tests.firstcome.hangzhou import SLUG, build_hangzhou, claim_body, clear_caches

API = f"/api/v1/campaigns/{SLUG}/claims"
PAGE = f"/c/{SLUG}/claim/"
LONG = 10**7  # a window that cannot roll over during a test


@pytest.fixture(autouse=True)
def _fresh():
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def campaign(db):
    """Hangzhou's first-come delivery campaign (tests/firstcome/hangzhou.py), 3 units a day."""
    return build_hangzhou()


def _post(body: dict, *, addr: str = "127.0.0.1", client: Client | None = None):
    return (client or Client()).post(API, json.dumps(body), content_type="application/json", REMOTE_ADDR=addr)


def _codes(response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def synthetic_id(n: int) -> str:
    """Checksum-valid, distinct for n < 28,000: what a bot makes up by the thousand."""
    return make_id_number(region="330106", birth=f"1990{1 + n // 28_000 % 12:02d}{1 + n // 1000 % 28:02d}",
                          seq=n % 1000)


def bot_body(n: int, **over) -> dict:
    return claim_body(1, **{"id_number": synthetic_id(n), "phone": make_phone(n), **over})


# --- proof of work ----------------------------------------------------------------------------------------

def test_a_claim_without_a_proof_is_refused_and_takes_nothing(campaign):
    response = _post(claim_body(1, altcha=""))

    assert (response.status_code, _codes(response)) == (400, ["altcha_required"])
    assert not Claim.objects.exists()


def test_a_claim_with_a_wrong_solution_is_refused(campaign):
    payload = json.loads(base64.b64decode(solved("claim")))
    payload["solution"]["counter"] += 1

    response = _post(claim_body(1, altcha=base64.b64encode(json.dumps(payload).encode()).decode()))

    assert (response.status_code, _codes(response)) == (400, ["altcha_invalid"])
    assert not Claim.objects.exists()


def test_a_proof_made_for_something_else_is_refused(campaign):
    response = _post(claim_body(1, altcha=solved("register")))

    assert (response.status_code, _codes(response)) == (400, ["altcha_invalid"])
    assert not Claim.objects.exists()


def test_a_proof_signed_with_another_key_is_refused(campaign):
    forged = proofs_presolved(purpose="claim", secret_key="not-the-server-key-" + "y" * 40)[0]

    response = _post(claim_body(1, altcha=forged))

    assert (response.status_code, _codes(response)) == (400, ["altcha_invalid"])
    assert not Claim.objects.exists()


def test_an_expired_proof_is_refused(campaign, settings):
    settings.ALLOT_ALTCHA_TTL_SECONDS = -1
    payload = challenge_solve(challenge_create(purpose="claim"))

    response = _post(claim_body(1, altcha=payload))

    assert (response.status_code, _codes(response)) == (400, ["altcha_expired"])
    assert not Claim.objects.exists()


def test_a_replayed_proof_is_refused_and_takes_nothing(campaign):
    proof = solved("claim")
    first = _post(claim_body(1, altcha=proof))

    replayed = _post(claim_body(2, altcha=proof))

    assert first.status_code == 201
    assert (replayed.status_code, _codes(replayed)) == (400, ["altcha_replayed"])
    assert Claim.objects.count() == 1


def test_a_replayed_proof_is_refused_after_it_was_written_to_the_table(campaign):
    proof = solved("claim")
    assert _post(claim_body(1, altcha=proof)).status_code == 201
    write_behind().flush()
    write_behind().reset()  # as another process would see it: only the table knows

    replayed = _post(claim_body(2, altcha=proof))

    assert UsedChallenge.objects.filter(purpose="claim").count() == 1
    assert (replayed.status_code, _codes(replayed)) == (400, ["altcha_replayed"])
    assert Claim.objects.count() == 1


def test_with_redis_a_replayed_proof_is_refused(campaign, redis_store):
    proof = solved("claim")
    assert _post(claim_body(1, altcha=proof)).status_code == 201

    replayed = _post(claim_body(2, altcha=proof))

    assert (replayed.status_code, _codes(replayed)) == (400, ["altcha_replayed"])
    assert Claim.objects.count() == 1
    assert not UsedChallenge.objects.exists()  # remembered in Redis, with the challenge's expiry
    keys = [k for k in redis_store.keys("*:pow:*")]
    assert len(keys) == 1 and 0 < redis_store.ttl(keys[0]) <= 20 * 60


def test_with_redis_a_replayed_proof_counts_nothing_and_a_counted_attempt_spends_its_proof(campaign, redis_store,
                                                                                         settings):
    # given: the replay memory and the counters redeemed/counted together (proof_redeem_counted); one claim per
    # address
    settings.ALLOT_RATE_LIMITS = {"claim": {"ip": (1, LONG)}}
    proof = solved("claim")
    assert _post(claim_body(1, altcha=proof)).status_code == 201

    # when: the same proof again from another resident, then a resident over the address limit with a new proof
    replayed = _post(claim_body(2, altcha=proof))
    fresh = solved("claim")
    limited = _post(claim_body(3, altcha=fresh))
    again = _post(claim_body(4, altcha=fresh))

    # then: the replay was refused before anything was counted (only resident 1's phone and ID number are);
    # the limited attempt spent its proof, as when the proof was redeemed before the counting
    assert (replayed.status_code, _codes(replayed)) == (400, ["altcha_replayed"])
    counted = redis_store.keys("*:claim:phone:*") + redis_store.keys("*:claim:id:*")
    assert len(counted) == 4 and {int(redis_store.get(k)) for k in counted} == {1}   # residents 1 and 3
    assert (limited.status_code, _codes(limited)) == (429, ["rate_limited"])
    assert (again.status_code, _codes(again)) == (400, ["altcha_replayed"])
    assert Claim.objects.count() == 1


def test_the_claim_page_solves_a_claim_challenge_in_the_browser_without_inline_script(campaign):
    body = Client().get(PAGE, {"district": "330106", "street": "330106001000"}).content.decode()

    challenge = json.loads(re.search(r'data-altcha-challenge="([^"]+)"', body)[1].replace("&quot;", '"'))
    assert challenge["parameters"]["data"] == {"purpose": "claim"}
    assert 'name="altcha"' in body and "allot/altcha.js" in body and "data-altcha-form" in body
    assert "<script>" not in body


def test_the_claim_page_refuses_a_post_without_a_proof(campaign):
    response = Client(HTTP_ACCEPT_LANGUAGE="zh-hans").post(PAGE, claim_body(1, altcha=""))

    assert response.status_code == 400
    assert "人机验证" in response.content.decode()
    assert 'name="building"' in response.content.decode()  # the form again, with a fresh challenge
    assert not Claim.objects.exists()


def test_the_switch_can_exempt_the_app_channel_and_the_page_still_needs_a_proof(campaign, settings):
    settings.ALLOT_CLAIM_PROOF_CHANNELS = ["web"]

    api = _post(claim_body(1, altcha=""))
    page = Client().post(PAGE, claim_body(2, altcha=""))

    assert api.status_code == 201
    assert page.status_code == 400
    assert Claim.objects.count() == 1


def test_with_the_switch_off_for_the_page_the_form_carries_no_challenge(campaign, settings):
    settings.ALLOT_CLAIM_PROOF_CHANNELS = []

    body = Client().get(PAGE, {"district": "330106", "street": "330106001000"}).content.decode()
    response = Client().post(PAGE, claim_body(1, altcha=""))

    assert "data-altcha-challenge" not in body and "altcha.js" not in body
    assert response.status_code == 302
    assert Claim.objects.count() == 1


# --- rate limits ------------------------------------------------------------------------------------------

def test_a_thousand_claims_with_made_up_id_numbers_from_one_address_stop_at_the_address_limit(db, settings):
    # given the default per-address limit, in a window that cannot roll over during the test, and units for all
    build_hangzhou(quota=2000)
    limit = DEFAULT_LIMITS["claim"]["ip"][0]
    settings.ALLOT_RATE_LIMITS = {"claim": {"ip": (limit, LONG)}}
    client = Client()

    # when one client address sends 1,000 claims, each with its own checksum-valid ID number, phone and proof
    statuses = [_post(bot_body(n), client=client).status_code for n in range(1000)]

    # then the first `limit` are accepted and every later one is refused before anything is taken
    assert statuses[:limit] == [201] * limit
    assert set(statuses[limit:]) == {429}
    assert Claim.objects.count() == limit
    write_behind().flush()
    assert RateCounter.objects.filter(key__contains=":claim:ip:").get().count == 1000


def test_with_redis_many_id_numbers_from_one_address_are_throttled_as_configured(campaign, redis_store, settings):
    build_hangzhou(quota=500, slug="big-masks")
    settings.ALLOT_RATE_LIMITS = {"claim": {"ip": (50, LONG)}}
    url = "/api/v1/campaigns/big-masks/claims"
    client = Client()

    statuses = [client.post(url, json.dumps(bot_body(n)), content_type="application/json").status_code
                for n in range(200)]

    assert statuses[:50] == [201] * 50 and set(statuses[50:]) == {429}
    assert Claim.objects.count() == 50
    assert not RateCounter.objects.exists()  # counted in Redis


def test_one_phone_typed_with_many_id_numbers_stops_at_the_phone_limit(db, settings):
    build_hangzhou(quota=100)
    limit = DEFAULT_LIMITS["claim"]["phone"][0]
    settings.ALLOT_RATE_LIMITS = {"claim": {"phone": (limit, LONG)}}

    statuses = [_post(bot_body(n, phone="139 0000 0042"), addr=f"10.0.{n}.1").status_code
                for n in range(limit + 3)]

    assert statuses == [201] * limit + [429] * 3
    assert Claim.objects.count() == limit


def test_one_id_number_hammered_stops_at_the_id_limit(campaign):
    limit = DEFAULT_LIMITS["claim"]["id"][0]

    answers = [_post(claim_body(1), addr=f"10.1.{n}.1") for n in range(limit + 2)]

    assert [a.status_code for a in answers] == [201] + [409] * (limit - 1) + [429] * 2
    assert Claim.objects.count() == 1


def test_addresses_of_one_ipv6_network_are_counted_together(campaign, settings):
    settings.ALLOT_RATE_LIMITS = {"claim": {"ip": (2, LONG)}}

    same = [_post(bot_body(n), addr=f"2001:db8:1:2::{n + 1:x}").status_code for n in range(3)]
    other = _post(bot_body(9), addr="2001:db8:1:3::1").status_code

    assert same == [201, 201, 429]
    assert other == 201


def test_the_page_is_throttled_like_the_api(campaign, settings):
    settings.ALLOT_RATE_LIMITS = {"claim": {"ip": (2, LONG)}}
    browser = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")

    statuses = [browser.post(PAGE, bot_body(n)).status_code for n in range(3)]

    assert statuses == [302, 302, 429]
    assert Claim.objects.count() == 2


# --- the stores fail closed -------------------------------------------------------------------------------

def test_redis_down_refuses_api_claims_with_503_and_takes_nothing(campaign, settings):
    settings.REDIS_URL = CLOSED_PORT_URL

    response = _post(claim_body(1))

    assert (response.status_code, _codes(response)) == (503, ["rate_limit_unavailable"])
    assert not Claim.objects.exists()


def test_redis_down_refuses_page_claims_with_503_and_takes_nothing(campaign, settings):
    settings.REDIS_URL = CLOSED_PORT_URL

    response = Client().post(PAGE, claim_body(1))

    assert response.status_code == 503
    assert not Claim.objects.exists()


def test_an_unusable_counter_table_refuses_claims_with_503_and_takes_nothing(campaign, settings):
    from django.db import connection

    settings.ALLOT_WRITE_BEHIND_SECONDS = 0  # write on every request
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute(f"ALTER TABLE {RateCounter._meta.db_table} RENAME TO ratecounter_gone")

    api = _post(claim_body(1))
    page = Client().post(PAGE, claim_body(2))

    assert (api.status_code, _codes(api)) == (503, ["rate_limit_unavailable"])
    assert page.status_code == 503
    assert not Claim.objects.exists()
