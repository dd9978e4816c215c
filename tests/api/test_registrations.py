"""POST /campaigns/{slug}/registrations: 202 with one answer for every outcome, every error code, minimal
collection, and Idempotency-Key."""

from __future__ import annotations

import datetime as dt

import pytest

from allot.campaigns.models import Campaign
from allot.identity.models import EligibilityList
from allot.places.models import Outlet
from allot.registrations.models import Registration
from tests.abuse.proof import sms_texts
from tests.api.conftest import SLUG, assert_errors, registration_body
from tests.conftest import make_id_number, make_phone

URL = f"/campaigns/{SLUG}/registrations"
RECEIVED_KEYS = {"received", "campaign", "draw_date", "draw_at", "sms_to", "detail"}


def test_registration_is_received_and_its_number_goes_by_sms(xiamen, client_api):
    # when
    response = client_api.post(URL, registration_body(1, phone="139 0000 0001"))

    # then the response holds no number, only where the answer goes
    assert response.status_code == 202, response.content
    body = response.json()
    reg = Registration.objects.get()
    assert set(body) == RECEIVED_KEYS
    assert reg.channel == Registration.Channel.API
    assert reg.number not in response.content.decode()
    assert body["draw_date"] == reg.round.draw_date.isoformat()
    assert body["draw_at"] == f"{reg.round.draw_date.isoformat()}T09:00:00+08:00"
    assert body["sms_to"] == "139****0001"
    assert any(reg.number in text for text in sms_texts(make_phone(1)))


def test_registration_without_an_outlet_accepts_any_outlet_of_the_district(xiamen, client_api):
    response = client_api.post(URL, registration_body(1, outlet=None, accept_any=True))

    assert response.status_code == 202, response.content
    reg = Registration.objects.get()
    assert reg.outlet is None and reg.accept_any


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
    ({"consent_id": False}, "consent_id", "consent_id_required"),
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
    response = client_api.post(URL, registration_body(1, name="", phone="", consent_id=False))

    body = assert_errors(response, 400, "name_required", field="name")
    assert {e["code"] for e in body["errors"]} == {"name_required", "phone_required", "consent_id_required"}


def test_missing_field_is_reported_by_name(xiamen, client_api):
    body = registration_body(1)
    del body["phone"]
    assert_errors(client_api.post(URL, body), 400, "missing", field="phone")


def test_unknown_field_is_unexpected_field(xiamen, client_api):
    assert_errors(client_api.post(URL, registration_body(1, nickname="三儿")), 400, "unexpected_field",
                  field="nickname")
    assert not Registration.objects.exists()


def test_the_old_single_consent_field_is_unexpected_field(xiamen, client_api):
    body = registration_body(1, consent=True)

    assert_errors(client_api.post(URL, body), 400, "unexpected_field", field="consent")


def test_field_of_the_wrong_type_is_invalid(xiamen, client_api):
    assert_errors(client_api.post(URL, registration_body(1, id_number=350203199001010012)), 400, "invalid",
                  field="id_number")


def test_body_that_is_not_json_is_invalid_json(xiamen, client_api):
    assert_errors(client_api.post(URL, "{name: 张三"), 400, "invalid_json")


def test_body_that_is_not_an_object_is_invalid_body(xiamen, client_api):
    assert_errors(client_api.post(URL, ["张三"]), 400, "invalid_body")


# --- health answers only when asked (issue 5 item 1) --------------------------------------------------

def test_health_answers_sent_to_a_campaign_that_does_not_ask_them_are_unexpected_field(xiamen, client_api):
    response = client_api.post(URL, registration_body(1, health_returned=False, health_symptoms=False))

    assert_errors(response, 400, "unexpected_field", field="health")
    assert not Registration.objects.exists()


def test_campaign_asking_health_needs_answers_and_a_separate_consent(xiamen, client_api):
    Campaign.objects.filter(pk=xiamen.campaign.pk).update(ask_health=True)

    body = assert_errors(client_api.post(URL, registration_body(1)), 400, "consent_health_required",
                         field="consent_health")

    assert {e["code"] for e in body["errors"]} == {"health_returned_required", "health_symptoms_required",
                                                   "consent_health_required"}


def test_campaign_asking_health_accepts_the_declaration(xiamen, client_api):
    Campaign.objects.filter(pk=xiamen.campaign.pk).update(ask_health=True)

    response = client_api.post(URL, registration_body(1, health_returned=False, health_symptoms=False,
                                                      consent_health=True))

    assert response.status_code == 202, response.content
    reg = Registration.objects.get()
    assert reg.health_sealed and reg.consent_health_at is not None


# --- proof of work ------------------------------------------------------------------------------------

def test_registration_without_a_proof_of_work_is_altcha_required(xiamen, client_api):
    assert_errors(client_api.post(URL, registration_body(1, altcha="")), 400, "altcha_required", field="altcha")
    assert not Registration.objects.exists()


def test_a_solved_challenge_cannot_be_used_twice(xiamen, client_api):
    body = registration_body(1)
    assert client_api.post(URL, body).status_code == 202

    response = client_api.post(URL, {**body, "id_number": make_id_number(seq=2), "phone": make_phone(2)})

    assert_errors(response, 400, "altcha_replayed", field="altcha")
    assert Registration.objects.count() == 1


def test_challenge_endpoint_returns_a_signed_challenge(xiamen, client_api):
    response = client_api.get("/registrations/challenge?purpose=status_code")

    assert response.status_code == 200
    body = response.json()
    assert body["signature"] and body["parameters"]["algorithm"] == "SHA-256"
    assert body["parameters"]["data"] == {"purpose": "status_code"}


# --- what is the same for everyone stays synchronous ---------------------------------------------------

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

    assert response.status_code == 202
    assert response.json()["draw_date"] == (drawn.draw.round.draw_date + dt.timedelta(days=1)).isoformat()


def test_registering_for_an_unknown_campaign_is_campaign_not_found(db, client_api):
    assert_errors(client_api.post("/campaigns/nope/registrations", registration_body(1)), 404,
                  "campaign_not_found")


# --- no oracle: personal outcomes are not in the response (issue 5 item 6) ------------------------------

def test_registering_twice_gets_the_same_answer_and_one_row(xiamen, client_api):
    # given
    first = client_api.post(URL, registration_body(1))

    # when the same person registers again with another outlet
    again = client_api.post(URL, registration_body(1, outlet="XM-SM-002"))

    # then
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()
    assert Registration.objects.count() == 1


def test_resident_not_on_the_campaigns_lists_gets_the_same_answer_and_an_sms_saying_where_to_appeal(
        xiamen, client_api):
    # given a campaign open only to an (empty) eligibility list
    xiamen.campaign.eligibility_lists.add(EligibilityList.objects.create(code="xm-hukou", name="厦门户籍"))

    # when
    response = client_api.post(URL, registration_body(1))

    # then
    assert response.status_code == 202 and set(response.json()) == RECEIVED_KEYS
    assert not Registration.objects.exists()
    assert any("厦门市12345热线" in t and "厦门户籍" in t for t in sms_texts(make_phone(1)))


# --- Idempotency-Key ----------------------------------------------------------------------------------

def test_retry_with_the_same_idempotency_key_returns_the_same_body_and_one_row(xiamen, client_api):
    # given
    first = client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k-1"})
    assert first.status_code == 202

    # when the client retries (its connection dropped), with the same proof
    retry = client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k-1"})

    # then
    assert retry.status_code == 202
    assert retry.json() == first.json()
    assert Registration.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_idempotency_key_reused(xiamen, client_api):
    assert client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k-1"}).status_code == 202

    response = client_api.post(URL, registration_body(2), **{"Idempotency-Key": "k-1"})

    assert_errors(response, 409, "idempotency_key_reused", field="Idempotency-Key")
    assert Registration.objects.count() == 1


def test_failed_request_leaves_its_idempotency_key_free_for_the_corrected_retry(xiamen, client_api):
    assert_errors(client_api.post(URL, registration_body(1, consent_id=False), **{"Idempotency-Key": "k-1"}), 400,
                  "consent_id_required")

    response = client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k-1"})

    assert response.status_code == 202


def test_request_arriving_while_the_first_with_its_key_runs_is_idempotency_key_in_progress(xiamen, client_api):
    # given a first request that is still running when the retry arrives
    from allot.api.v1.idempotency import idempotent

    seen = {}

    def first() -> tuple[str, dict]:
        seen["retry"] = client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k-1"})
        return "N", {}

    # when
    from allot.api.v1.schemas import RegistrationIn

    body = RegistrationIn(**registration_body(1)).model_dump(mode="json", exclude={"altcha"})
    idempotent(scope=SLUG, key="k-1", body=body, run=first)

    # then
    assert_errors(seen["retry"], 409, "idempotency_key_in_progress")


def test_idempotency_key_longer_than_64_characters_is_invalid(xiamen, client_api):
    response = client_api.post(URL, registration_body(1), **{"Idempotency-Key": "k" * 65})
    assert_errors(response, 400, "too_long", field="Idempotency-Key")
