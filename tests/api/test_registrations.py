"""POST /campaigns/{slug}/registrations: 201, every error code, and Idempotency-Key."""

from __future__ import annotations

import datetime as dt

import pytest

from allot.campaigns.models import Campaign
from allot.identity.models import EligibilityList
from allot.places.models import Outlet
from allot.registrations.models import Registration
from tests.api.conftest import SLUG, assert_errors, registration_body
from tests.conftest import make_id_number

URL = f"/campaigns/{SLUG}/registrations"


def test_registration_is_created_with_masked_personal_data(xiamen, client_api):
    # when
    response = client_api.post(URL, registration_body(1, phone="139 0000 0001"))

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    reg = Registration.objects.get()
    assert reg.channel == Registration.Channel.API
    assert body["number"] == reg.number
    assert body["draw_date"] == reg.round.draw_date.isoformat()
    assert body["draw_at"] == f"{reg.round.draw_date.isoformat()}T09:00:00+08:00"
    assert body["status"] == "registered"
    assert body["outlet"] == {"code": "XM-SM-001", "name": "思明第一药房"}
    assert body["accept_any"] is False
    assert (body["name_masked"], body["id_masked"], body["phone_masked"]) == (
        "张*", "350203********" + make_id_number(seq=1)[-4:], "139****0001")


def test_registration_without_an_outlet_accepts_any_outlet_of_the_district(xiamen, client_api):
    response = client_api.post(URL, registration_body(1, outlet=None, accept_any=True))

    assert response.status_code == 201, response.content
    assert (response.json()["outlet"], response.json()["accept_any"]) == (None, True)


@pytest.mark.parametrize(("over", "field", "code"), [
    ({"name": ""}, "name", "name_required"),
    ({"name": "张三3"}, "name", "name_invalid_chars"),
    ({"name": "张" * 31}, "name", "name_too_long"),
    ({"id_number": ""}, "id_number", "id_number_required"),
    ({"id_number": "35020319900101001"}, "id_number", "id_number_format"),
    ({"id_number": make_id_number(seq=1)[:-1] + ("1" if make_id_number(seq=1)[-1] != "1" else "2")},
     "id_number", "id_number_checksum"),
    ({"id_number": make_id_number(birth="19901341")}, "id_number", "id_number_birth_date"),
    ({"id_number": make_id_number(region="990000")}, "id_number", "id_number_region"),
    ({"phone": ""}, "phone", "phone_required"),
    ({"phone": "12345"}, "phone", "phone_invalid"),
    ({"phone": "0592 2345678"}, "phone", "phone_not_mobile"),
    ({"district": "350102"}, "district", "district_invalid"),
    ({"outlet": "XM-HL-001"}, "outlet", "outlet_invalid"),
    ({"outlet": "", "accept_any": False}, "outlet", "outlet_required"),
    ({"consent": False}, "consent", "consent_required"),
])
def test_invalid_field_is_rejected_with_its_code(xiamen, client_api, over, field, code):
    # when
    response = client_api.post(URL, registration_body(1, **over))

    # then
    body = assert_errors(response, 400, code, field=field)
    assert [e["field"] for e in body["errors"]] == [field]
    assert not Registration.objects.exists()


def test_pharmacy_not_taking_part_is_outlet_closed(xiamen, client_api):
    Outlet.objects.filter(code="XM-SM-001").update(status=Outlet.Status.SUSPENDED)
    assert_errors(client_api.post(URL, registration_body(1)), 400, "outlet_closed", field="outlet")


def test_all_field_errors_are_reported_together(xiamen, client_api):
    response = client_api.post(URL, registration_body(1, name="", phone="", consent=False))

    body = assert_errors(response, 400, "name_required", field="name")
    assert {e["code"] for e in body["errors"]} == {"name_required", "phone_required", "consent_required"}


def test_missing_field_is_reported_by_name(xiamen, client_api):
    body = registration_body(1)
    del body["phone"]
    assert_errors(client_api.post(URL, body), 400, "missing", field="phone")


def test_unknown_field_is_unexpected_field(xiamen, client_api):
    assert_errors(client_api.post(URL, registration_body(1, nickname="三儿")), 400, "unexpected_field",
                  field="nickname")
    assert not Registration.objects.exists()


def test_field_of_the_wrong_type_is_invalid(xiamen, client_api):
    assert_errors(client_api.post(URL, registration_body(1, id_number=350203199001010012)), 400, "invalid",
                  field="id_number")


def test_body_that_is_not_json_is_invalid_json(xiamen, client_api):
    assert_errors(client_api.post(URL, "{name: 张三"), 400, "invalid_json")


def test_body_that_is_not_an_object_is_invalid_body(xiamen, client_api):
    assert_errors(client_api.post(URL, ["张三"]), 400, "invalid_body")


def test_registering_twice_for_the_same_draw_is_already_registered(xiamen, client_api):
    # given
    assert client_api.post(URL, registration_body(1)).status_code == 201

    # when the same person registers again with another phone and outlet
    response = client_api.post(URL, registration_body(1, phone="+8613900000099", outlet="XM-SM-002"))

    # then
    assert_errors(response, 409, "already_registered", field="id_number")
    assert Registration.objects.count() == 1


def test_resident_not_on_the_campaigns_lists_is_not_eligible(xiamen, client_api):
    # given a campaign open only to an (empty) eligibility list
    xiamen.campaign.eligibility_lists.add(EligibilityList.objects.create(code="xm-hukou", name="厦门户籍"))

    # when
    body = assert_errors(client_api.post(URL, registration_body(1)), 403, "not_eligible", field="id_number")

    # then the message says where to appeal
    assert "厦门市12345热线" in body["errors"][0]["message"]


def test_registering_during_maintenance_is_maintenance_503(xiamen, client_api):
    # given a maintenance window around the current time in Asia/Shanghai
    c = xiamen.campaign
    local = dt.datetime.now(tz=c.tz)
    c.maintenance_start = (local - dt.timedelta(hours=1)).time().replace(microsecond=0)
    c.maintenance_end = (local + dt.timedelta(hours=1)).time().replace(microsecond=0)
    c.save()

    # then
    assert_errors(client_api.post(URL, registration_body(1)), 503, "maintenance")


def test_registering_for_an_ended_campaign_is_campaign_closed(xiamen, client_api):
    Campaign.objects.filter(pk=xiamen.campaign.pk).update(status=Campaign.Status.ENDED)
    assert_errors(client_api.post(URL, registration_body(1)), 409, "campaign_closed")


def test_registering_after_the_current_round_was_drawn_enters_the_next_draw(drawn, client_api):
    response = client_api.post(URL, registration_body(7))

    assert response.status_code == 201
    assert response.json()["draw_date"] == (drawn.draw.round.draw_date + dt.timedelta(days=1)).isoformat()


def test_registering_for_an_unknown_campaign_is_campaign_not_found(db, client_api):
    assert_errors(client_api.post("/campaigns/nope/registrations", registration_body(1)), 404,
                  "campaign_not_found")


# --- Idempotency-Key ----------------------------------------------------------------------------------

def test_retry_with_the_same_idempotency_key_returns_the_same_body_and_one_row(xiamen, client_api):
    # given
    first = client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201

    # when the client retries (its connection dropped)
    retry = client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k-1"})

    # then
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert Registration.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_idempotency_key_reused(xiamen, client_api):
    assert client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k-1"}).status_code == 201

    response = client_api.post(URL, registration_body(2), **{"Idempotency-Key": "k-1"})

    assert_errors(response, 409, "idempotency_key_reused", field="Idempotency-Key")
    assert Registration.objects.count() == 1


def test_retry_without_idempotency_key_is_already_registered(xiamen, client_api):
    assert client_api.post(URL, registration_body(1)).status_code == 201
    assert_errors(client_api.post(URL, registration_body(1)), 409, "already_registered")


def test_failed_request_leaves_its_idempotency_key_free_for_the_corrected_retry(xiamen, client_api):
    assert_errors(client_api.post(URL, registration_body(1, consent=False), **{"Idempotency-Key": "k-1"}), 400,
                  "consent_required")

    response = client_api.post(URL, registration_body(1, consent=False), **{"Idempotency-Key": "k-1"})

    assert_errors(response, 400, "consent_required")


def test_request_arriving_while_the_first_with_its_key_runs_is_idempotency_key_in_progress(xiamen, client_api):
    # given a first request that is still running when the retry arrives
    from allot.api.v1.idempotency import idempotent

    seen = {}

    def first() -> tuple[str, dict]:
        seen["retry"] = client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k-1"})
        return "N", {}

    # when
    idempotent(scope=SLUG, key="k-1", body=registration_body(1), run=first)

    # then
    assert_errors(seen["retry"], 409, "idempotency_key_in_progress")


def test_idempotency_key_longer_than_64_characters_is_invalid(xiamen, client_api):
    response = client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k" * 65})
    assert_errors(response, 400, "too_long", field="Idempotency-Key")
