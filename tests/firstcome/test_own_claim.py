"""A resident sees their own claim with a one-time code sent to the phone on file, on the page and in the API; the
answer before the code is the same whether or not the ID number has a claim (the claim number + ID number lookup,
an oracle for guessing, is gone)."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from allot.core.models import AuditLog
from allot.firstcome.models import Claim
from allot.firstcome.services import claim_create
from allot.identity.services import PersonInput, person_upsert
from allot.verification.models import OneTimeCode
from tests.abuse.proof import last_code, sms_texts, solved
from tests.conftest import make_phone
from tests.firstcome.hangzhou import SLUG, claim_request

SEND = "/api/v1/claims/lookup"
VERIFY = "/api/v1/claims/lookup/verify"
PAGE = f"/c/{SLUG}/claim/status/"
CODE_PAGE = f"/c/{SLUG}/claim/status/code/"

CLAIMED, ON_FILE, UNKNOWN = 1, 2, 3   # residents: one claimed, one on file without a claim, one nobody knows


def _id(n: int) -> str:
    return claim_request(n).id_number


def _post(path: str, body: dict, client: Client | None = None):
    return (client or Client()).post(path, json.dumps(body), content_type="application/json")


def _codes(response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def _ask(n: int, client: Client | None = None):
    return _post(SEND, {"campaign": SLUG, "id_number": _id(n), "altcha": solved("status_code")}, client)


def _verify(token: str, code: str, client: Client | None = None):
    return _post(VERIFY, {"campaign": SLUG, "token": token, "code": code}, client)


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


@pytest.fixture
def residents(hangzhou):
    claim = claim_create(campaign=hangzhou, request=claim_request(CLAIMED))
    person_upsert(data=PersonInput(id_number=_id(ON_FILE), phone=make_phone(ON_FILE), name="李四"))
    return claim


# --- API --------------------------------------------------------------------------------------------------

def test_the_code_goes_to_the_phone_on_file_and_opens_the_claim_with_its_parcel(residents):
    sent = _ask(CLAIMED)

    response = _verify(sent.json()["token"], last_code(make_phone(CLAIMED)))

    assert sent.status_code == 202
    assert response.status_code == 200, response.content
    claim = response.json()["claim"]
    assert (claim["number"], claim["campaign"]) == (residents.number, SLUG)
    assert claim["parcel"]["number"] == residents.parcel.number
    assert claim["id_masked"] == residents.person.id_masked and _id(CLAIMED) not in response.content.decode()
    assert AuditLog.objects.filter(action="allot.firstcome.status_opened").count() == 1


def test_nothing_about_the_claim_is_told_before_the_code(residents):
    sent = _ask(CLAIMED)

    assert residents.number not in sent.content.decode()
    assert residents.parcel.number not in sent.content.decode()
    assert not AuditLog.objects.filter(action="allot.firstcome.status_opened").exists()


def test_claimed_on_file_and_unknown_id_numbers_get_the_same_answer(residents):
    answers = [_ask(n) for n in (CLAIMED, ON_FILE, UNKNOWN)]

    assert [a.status_code for a in answers] == [202, 202, 202]
    bodies = [a.json() for a in answers]
    assert len({frozenset(b) for b in bodies}) == 1
    assert len({b["detail"] for b in bodies}) == 1
    assert len({len(b["token"]) for b in bodies}) == 1
    assert len({len(b["expires_at"]) for b in bodies}) == 1
    # and the same work was done: a code row for each, an SMS only where there is a phone on file
    assert OneTimeCode.objects.count() == 3
    assert len(sms_texts(make_phone(CLAIMED))) == 1 and len(sms_texts(make_phone(ON_FILE))) == 1


def test_a_code_for_an_unknown_id_number_never_opens_anything(residents):
    _ask(CLAIMED)  # someone else's real code, to try as well
    token = _ask(UNKNOWN).json()["token"]

    for guess in ("000000", "123456", last_code(make_phone(CLAIMED))):
        response = _verify(token, guess)
        assert (response.status_code, _codes(response)) == (400, ["code_invalid"])


def test_a_resident_on_file_without_a_claim_here_sees_none(residents):
    token = _ask(ON_FILE).json()["token"]

    response = _verify(token, last_code(make_phone(ON_FILE)))

    assert response.status_code == 200
    assert response.json() == {"claim": None}


def test_five_wrong_codes_lock_the_code_even_for_the_right_one_after(residents):
    token = _ask(CLAIMED).json()["token"]
    code = last_code(make_phone(CLAIMED))

    wrong = [_verify(token, _wrong(code)) for _ in range(5)]
    after = _verify(token, code)

    assert [(r.status_code, _codes(r)) for r in wrong] == [(400, ["code_invalid"])] * 5
    assert (after.status_code, _codes(after)) == (429, ["code_attempts_exceeded"])
    assert "claim" not in after.json()


def test_a_code_works_once(residents):
    token = _ask(CLAIMED).json()["token"]
    code = last_code(make_phone(CLAIMED))
    assert _verify(token, code).status_code == 200

    again = _verify(token, code)

    assert (again.status_code, _codes(again)) == (400, ["code_expired"])


def test_a_code_is_bound_to_its_campaign(residents):
    from tests.firstcome.hangzhou import build_hangzhou

    build_hangzhou(slug="other-masks")
    token = _ask(CLAIMED).json()["token"]

    response = _post(VERIFY, {"campaign": "other-masks", "token": token, "code": last_code(make_phone(CLAIMED))})

    assert (response.status_code, _codes(response)) == (400, ["code_expired"])


def test_asking_for_a_code_needs_a_proof_of_work(residents):
    response = _post(SEND, {"campaign": SLUG, "id_number": _id(CLAIMED), "altcha": ""})

    assert (response.status_code, _codes(response)) == (400, ["altcha_required"])
    assert not OneTimeCode.objects.exists()


def test_an_unknown_campaign_is_404_for_both_steps(residents):
    sent = _post(SEND, {"campaign": "nowhere", "id_number": _id(CLAIMED), "altcha": solved("status_code")})
    verify = _post(VERIFY, {"campaign": "nowhere", "token": "x", "code": "123456"})

    assert (sent.status_code, _codes(sent)) == (404, ["campaign_not_found"])
    assert (verify.status_code, _codes(verify)) == (404, ["campaign_not_found"])


def test_code_requests_for_one_id_number_are_limited(residents):
    statuses = [_ask(CLAIMED).status_code for _ in range(6)]

    assert statuses == [202] * 5 + [429]


def test_the_latest_claim_of_the_campaign_is_shown(residents, hangzhou):
    import datetime as dt

    from allot.firstcome.selectors import claim_latest_of

    older = Claim.objects.get()
    Claim.objects.filter(pk=older.pk).update(day=older.day - dt.timedelta(days=1))
    today = claim_create(campaign=hangzhou, request=claim_request(CLAIMED))

    assert claim_latest_of(campaign=hangzhou, person_pk=today.person_id) == today


# --- the pages --------------------------------------------------------------------------------------------

@pytest.fixture
def browser_client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="zh-hans")


def _page_ask(client: Client, n: int):
    return client.post(PAGE, {"id_number": _id(n), "altcha": solved("status_code")})


def test_the_lookup_page_asks_for_the_id_number_only_and_solves_a_proof_in_the_browser(residents, browser_client):
    body = browser_client.get(PAGE).content.decode()

    assert 'name="id_number"' in body and 'name="number"' not in body
    assert "data-altcha-challenge" in body and "allot/altcha.js" in body
    assert "<script>" not in body


def test_the_page_shows_the_claim_after_the_code(residents, browser_client):
    asked = _page_ask(browser_client, CLAIMED)
    response = browser_client.post(CODE_PAGE, {"code": last_code(make_phone(CLAIMED))}, follow=True)

    assert (asked.status_code, asked["Location"]) == (302, CODE_PAGE)
    assert response.status_code == 200
    body = response.content.decode()
    assert residents.parcel.number in body and "北山街道" in body
    assert _id(CLAIMED) not in body


def test_the_page_answers_claimed_and_unclaimed_id_numbers_alike(residents):
    answers = []
    for n in (CLAIMED, ON_FILE, UNKNOWN):
        client = Client()
        asked = _page_ask(client, n)
        page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", client.get(CODE_PAGE).content.decode())
        answers.append((asked.status_code, asked["Location"], page))

    assert len(set(answers)) == 1


def test_the_page_says_when_there_is_no_claim_in_the_campaign(residents, browser_client):
    _page_ask(browser_client, ON_FILE)

    response = browser_client.post(CODE_PAGE, {"code": last_code(make_phone(ON_FILE))})

    assert response.status_code == 200
    assert "本活动中没有您的申领" in response.content.decode()
    assert "portal_claim_pk" not in browser_client.session


def test_five_wrong_codes_on_the_page_lock_the_code(residents, browser_client):
    _page_ask(browser_client, CLAIMED)
    code = last_code(make_phone(CLAIMED))

    wrong = [browser_client.post(CODE_PAGE, {"code": _wrong(code)}).status_code for _ in range(5)]
    after = browser_client.post(CODE_PAGE, {"code": code})

    assert wrong == [400] * 5
    assert after.status_code == 429
    assert residents.parcel.number not in after.content.decode()
    assert "portal_claim_pk" not in browser_client.session


def test_the_code_page_without_a_pending_code_goes_back_to_the_lookup(residents, browser_client):
    response = browser_client.get(CODE_PAGE)

    assert (response.status_code, response["Location"]) == (302, PAGE)


def test_the_status_page_without_a_verified_code_shows_nothing(residents, browser_client):
    response = browser_client.get(f"/c/{SLUG}/claim/status/view/")

    assert (response.status_code, response["Location"]) == (302, PAGE)


def test_after_a_claim_the_page_tells_how_to_check_it_later(hangzhou, browser_client):
    from tests.firstcome.hangzhou import claim_body

    response = browser_client.post(f"/c/{SLUG}/claim/", claim_body(1), follow=True)

    assert response.status_code == 200
    assert "查询我的申领" in response.content.decode() and "验证码" in response.content.decode()

