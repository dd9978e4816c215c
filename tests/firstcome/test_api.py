"""/api/v1 claim operations and their error codes."""

from __future__ import annotations

import json

from django.test import Client, override_settings

from allot.firstcome.models import Claim
from allot.firstcome.services import claim_create
from tests.firstcome.hangzhou import REDIS_DOWN_URL, SLUG, claim_body, claim_request

URL = f"/api/v1/campaigns/{SLUG}/claims"


def _post(path: str, body: dict, client: Client | None = None):
    return (client or Client()).post(path, json.dumps(body), content_type="application/json")


def _codes(response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def test_a_claim_is_created_with_its_parcel(hangzhou):
    response = _post(URL, claim_body(1))

    assert response.status_code == 201
    data = response.json()
    assert data["number"] == Claim.objects.get().number
    assert data["parcel"]["status"] == "created"


def test_a_second_claim_of_the_same_person_is_409_already_claimed(hangzhou):
    _post(URL, claim_body(1))

    response = _post(URL, claim_body(1))

    assert (response.status_code, _codes(response)) == (409, ["already_claimed"])


def test_address_errors_name_their_fields(hangzhou):
    response = _post(URL, claim_body(1, district="330203", building=""))

    assert response.status_code == 400
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("district", "address_district_outside"), ("building", "address_building_required")}


def test_sold_out_is_answered_from_the_flag_without_a_query(hangzhou, django_assert_num_queries):
    for n in range(3):
        claim_create(campaign=hangzhou, request=claim_request(n))
    _post(URL, claim_body(8))
    client = Client()
    _post(URL, claim_body(8), client)  # warm the client's handler

    with django_assert_num_queries(0):
        response = _post(URL, claim_body(9), client)

    assert (response.status_code, _codes(response)) == (409, ["sold_out"])


def test_redis_down_is_503_and_nothing_is_taken(hangzhou, settings):
    settings.REDIS_URL = REDIS_DOWN_URL

    response = _post(URL, claim_body(1))

    # the first thing that needs Redis is the proof's replay memory (the claim's own Redis step would answer
    # temporarily_unavailable: tests/firstcome/test_claims.py)
    assert (response.status_code, _codes(response)) == (503, ["rate_limit_unavailable"])
    assert Claim.objects.count() == 0


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0)
def test_past_the_in_flight_cap_the_api_answers_503_busy(hangzhou):
    response = _post(URL, claim_body(1))

    assert (response.status_code, _codes(response)) == (503, ["busy"])
    assert response["Retry-After"]


def test_unknown_campaign_is_404(hangzhou):
    response = _post("/api/v1/campaigns/nowhere/claims", claim_body(1))

    assert (response.status_code, _codes(response)) == (404, ["campaign_not_found"])


def test_remaining_shows_the_units_left(hangzhou):
    _post(URL, claim_body(1))

    data = Client().get(f"{URL}/remaining").json()

    assert (data["units"], data["left"], data["state"]) == (3, 2, "open")


def test_lookup_returns_the_claim_with_the_parcel_after_the_code(hangzhou):
    from tests.abuse.proof import last_code, solved
    from tests.conftest import make_phone

    number = _post(URL, claim_body(1)).json()["number"]

    sent = _post("/api/v1/claims/lookup", {"campaign": SLUG, "id_number": claim_body(1)["id_number"],
                                           "altcha": solved("status_code")})
    response = _post("/api/v1/claims/lookup/verify", {"campaign": SLUG, "token": sent.json()["token"],
                                                      "code": last_code(make_phone(1))})

    assert sent.status_code == 202
    assert response.status_code == 200
    assert response.json()["claim"]["number"] == number
    assert response.json()["claim"]["parcel"]["address"].startswith("杭州市西湖区北山街道")


def test_the_old_lookup_by_claim_number_and_id_number_is_refused(hangzhou):
    number = _post(URL, claim_body(1)).json()["number"]

    response = _post("/api/v1/claims/lookup", {"number": number, "id_number": claim_body(1)["id_number"]})

    assert response.status_code == 400
    assert number not in response.content.decode()
