"""The resident pages of a first-come campaign: countdown, district → street → form, claim, sold out, status."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client, override_settings

from allot.firstcome.models import Claim
from allot.firstcome.services import claim_create
from tests.firstcome.hangzhou import SLUG, build_hangzhou, claim_body, claim_request

URL = f"/c/{SLUG}/claim/"


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="zh-hans")


def test_before_the_opening_the_page_is_a_cacheable_countdown_with_the_time(db, client):
    build_hangzhou(opens_at=dt.time(10, 0), starts_on=dt.date.today() + dt.timedelta(days=2))

    response = client.get(URL)

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("public, max-age=")
    assert "csrftoken" not in response.cookies and "sessionid" not in response.cookies
    body = response.content.decode()
    assert "10:00" in body and "data-opens-at" in body


def test_before_the_opening_a_claim_post_is_refused(db, client):
    build_hangzhou(opens_at=dt.time(10, 0), starts_on=dt.date.today() + dt.timedelta(days=2))

    response = client.post(URL, claim_body(1))

    assert response.status_code == 409
    assert Claim.objects.count() == 0


def test_the_claim_page_asks_for_the_district_then_the_street(hangzhou, client):
    districts = client.get(URL).content.decode()
    streets = client.get(URL, {"district": "330106"}).content.decode()
    form = client.get(URL, {"district": "330106", "street": "330106001000"}).content.decode()

    assert "临平区" in districts and "钱塘区" in districts
    assert "北山街道" in streets and "西溪街道" in streets
    assert "北山社区" in form and 'name="building"' in form


def test_a_resident_claims_and_sees_the_claim_number_and_parcel(hangzhou, client):
    response = client.post(URL, claim_body(1), follow=True)

    assert response.status_code == 200
    claim = Claim.objects.get()
    body = response.content.decode()
    assert claim.number[:5] in body
    assert "北山街道" in body and "3幢" in body
    assert "110105" not in body  # no ID number in clear: only the masked form


def test_a_claim_with_a_messy_address_shows_the_field_errors(hangzhou, client):
    response = client.post(URL, claim_body(1, building="", district="330106"))

    assert response.status_code == 400
    assert Claim.objects.count() == 0
    assert "楼栋" in response.content.decode()


def test_when_sold_out_the_page_says_so_without_a_form(hangzhou, client):
    for n in range(3):
        claim_create(campaign=hangzhou, request=claim_request(n))
    client.post(URL, claim_body(7))  # finds the quota gone and sets the flag

    response = client.get(URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="building"' not in body
    assert "data-countdown" not in body
    assert "今日名额已领完" in body
    assert response["Cache-Control"].startswith("public")


def test_the_status_page_shows_the_claim_after_a_code_sent_to_the_phone(hangzhou, client):
    from tests.abuse.proof import last_code, solved
    from tests.conftest import make_phone

    claim = claim_create(campaign=hangzhou, request=claim_request(1))

    asked = client.post(f"/c/{SLUG}/claim/status/", {"id_number": claim_request(1).id_number,
                                                     "altcha": solved("status_code")})
    response = client.post(f"/c/{SLUG}/claim/status/code/", {"code": last_code(make_phone(1))}, follow=True)

    assert (asked.status_code, asked["Location"]) == (302, f"/c/{SLUG}/claim/status/code/")
    assert response.status_code == 200
    assert claim.parcel.number in response.content.decode()


def test_the_status_page_no_longer_takes_a_claim_number(hangzhou, client):
    claim = claim_create(campaign=hangzhou, request=claim_request(1))

    response = client.post(f"/c/{SLUG}/claim/status/", {"number": claim.number,
                                                        "id_number": claim_request(1).id_number})

    assert response.status_code == 400
    assert claim.parcel.number not in response.content.decode()
    assert "portal_claim_pk" not in client.session


def test_remaining_json_shows_units_left_and_is_cacheable(hangzhou, client):
    claim_create(campaign=hangzhou, request=claim_request(1))

    response = client.get(f"/c/{SLUG}/claim/remaining.json")

    assert response.json()["left"] == 2 and response.json()["units"] == 3
    assert response["Cache-Control"] == "public, max-age=2"


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0)
def test_past_the_in_flight_cap_a_claim_gets_503_with_retry_after(hangzhou):
    response = Client().post(URL, claim_body(1))

    assert response.status_code == 503
    assert 2 <= int(response["Retry-After"]) <= 6
    assert Claim.objects.count() == 0
