"""The resident's own record through the API: a one-time code to the phone on file, then the record, then
withdrawal before the draw (issue 5 items 6 and 10)."""

from __future__ import annotations

import datetime as dt

from allot.core.codes import group
from allot.registrations.models import Registration
from allot.registrations.services import registration_create
from allot.verification.models import OneTimeCode
from tests.abuse.proof import last_code, solved
from tests.api.conftest import SLUG, assert_errors
from tests.conftest import make_id_number, make_phone, registration_request

SEND = f"/campaigns/{SLUG}/status/code"
VERIFY = f"/campaigns/{SLUG}/status/verify"
WITHDRAW = f"/campaigns/{SLUG}/status/withdraw"


def ask_code(client_api, n: int):
    return client_api.post(SEND, {"id_number": make_id_number(seq=n), "altcha": solved("status_code")})


def open_record(client_api, n: int):
    token = ask_code(client_api, n).json()["token"]
    return client_api.post(VERIFY, {"token": token, "code": last_code(make_phone(n))})


def test_code_goes_to_the_phone_on_file_and_opens_the_residents_registration(xiamen, client_api):
    # given
    reg = registration_create(campaign=xiamen.campaign, request=registration_request(1))

    # when
    sent = ask_code(client_api, 1)
    response = client_api.post(VERIFY, {"token": sent.json()["token"], "code": last_code(make_phone(1))})

    # then
    assert sent.status_code == 202
    assert response.status_code == 200, response.content
    body = response.json()["registration"]
    assert (body["number"], body["status"], body["campaign"]) == (reg.number, "registered", "xiamen-masks")
    assert body["id_masked"] == reg.person.id_masked
    assert body["can_withdraw"] is True
    assert [c["kind"] for c in body["consents"]] == ["id_number"]
    assert body["health"] is None
    assert (body["pickup"], body["rolled_over_to"], body["draw_id"]) == (None, None, None)


def test_code_for_an_id_number_nobody_registered_gets_the_same_answer_and_never_opens(xiamen, client_api):
    registration_create(campaign=xiamen.campaign, request=registration_request(1))

    known, unknown = ask_code(client_api, 1), ask_code(client_api, 2)

    assert (known.status_code, unknown.status_code) == (202, 202)
    assert set(known.json()) == set(unknown.json()) and known.json()["detail"] == unknown.json()["detail"]
    assert len(known.json()["token"]) == len(unknown.json()["token"])
    for guess in ("000000", "123456"):
        assert_errors(client_api.post(VERIFY, {"token": unknown.json()["token"], "code": guess}), 400,
                      "code_invalid", field="code")


def test_resident_on_file_without_a_registration_in_the_campaign_sees_none(xiamen, client_api):
    from allot.identity.services import PersonInput, person_upsert

    person_upsert(data=PersonInput(id_number=make_id_number(seq=3), phone=make_phone(3), name="王五"))

    response = open_record(client_api, 3)

    assert response.status_code == 200
    assert response.json()["registration"] is None


def test_lookup_of_a_winner_shows_the_pickup_code_and_window(drawn, client_api):
    body = open_record(client_api, drawn.winner_n).json()["registration"]

    pc = drawn.winner.pickup
    assert body["status"] == "won"
    assert body["draw_id"] == drawn.draw.draw_id
    assert body["pickup"]["code"] == pc.code
    assert body["pickup"]["code_grouped"] == group(pc.code)
    assert body["pickup"]["outlet"] == {"code": "XM-SM-001", "name": "思明第一药房"}
    assert body["pickup"]["valid_until"].endswith("+08:00")


def test_lookup_of_a_loser_shows_the_rolled_over_registration(drawn, client_api):
    loser_n = next(n for n, r in zip((1, 2, 3), drawn.registrations, strict=True) if r.pk != drawn.winner.pk)

    body = open_record(client_api, loser_n).json()["registration"]

    # the latest registration is the rolled-over one, waiting for tomorrow's draw
    assert body["status"] == "registered"
    assert body["draw_date"] > drawn.draw.round.draw_date.isoformat()


def test_a_code_works_once(xiamen, client_api):
    registration_create(campaign=xiamen.campaign, request=registration_request(1))
    token = ask_code(client_api, 1).json()["token"]
    code = last_code(make_phone(1))
    assert client_api.post(VERIFY, {"token": token, "code": code}).status_code == 200

    assert_errors(client_api.post(VERIFY, {"token": token, "code": code}), 400, "code_expired")


def test_five_wrong_codes_use_the_code_up(xiamen, client_api):
    registration_create(campaign=xiamen.campaign, request=registration_request(1))
    token = ask_code(client_api, 1).json()["token"]
    code = last_code(make_phone(1))
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert_errors(client_api.post(VERIFY, {"token": token, "code": wrong}), 400, "code_invalid")

    assert_errors(client_api.post(VERIFY, {"token": token, "code": code}), 429, "code_attempts_exceeded")


def test_a_code_older_than_ten_minutes_is_expired(xiamen, client_api):
    registration_create(campaign=xiamen.campaign, request=registration_request(1))
    token = ask_code(client_api, 1).json()["token"]
    OneTimeCode.objects.filter(token=token).update(expires_at=dt.datetime.now(tz=dt.UTC) - dt.timedelta(seconds=1))

    assert_errors(client_api.post(VERIFY, {"token": token, "code": last_code(make_phone(1))}), 400, "code_expired")


def test_a_code_is_bound_to_the_phone_it_was_sent_to(xiamen, client_api):
    # given a code sent to the phone on file, after which the phone on file changed
    from allot.identity.models import Person
    from allot.identity.services import phone_index

    registration_create(campaign=xiamen.campaign, request=registration_request(1))
    token = ask_code(client_api, 1).json()["token"]
    Person.objects.update(phone_index=phone_index("+8613900000099"))

    # then the code no longer opens the record
    assert_errors(client_api.post(VERIFY, {"token": token, "code": last_code(make_phone(1))}), 400, "code_invalid")


def test_resident_withdraws_with_the_access_token(xiamen, client_api):
    reg = registration_create(campaign=xiamen.campaign, request=registration_request(1))
    access = open_record(client_api, 1).json()["access_token"]

    response = client_api.post(WITHDRAW, {"access_token": access})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "withdrawn"
    reg.refresh_from_db()
    assert reg.status == Registration.Status.WITHDRAWN


def test_withdraw_with_a_forged_access_token_is_refused(xiamen, client_api):
    registration_create(campaign=xiamen.campaign, request=registration_request(1))

    assert_errors(client_api.post(WITHDRAW, {"access_token": "forged"}), 401, "access_token_invalid")
    assert Registration.objects.get().status == Registration.Status.REGISTERED


def test_withdraw_after_the_draw_is_cannot_withdraw(drawn, client_api):
    access = open_record(client_api, drawn.winner_n).json()["access_token"]

    assert_errors(client_api.post(WITHDRAW, {"access_token": access}), 409, "cannot_withdraw")


def test_asking_for_a_code_needs_a_proof_of_work(xiamen, client_api):
    response = client_api.post(SEND, {"id_number": make_id_number(seq=1), "altcha": ""})

    assert_errors(response, 400, "altcha_required", field="altcha")


def test_asking_for_a_code_with_an_unknown_field_is_unexpected_field(xiamen, client_api):
    response = client_api.post(SEND, {"id_number": make_id_number(seq=1), "altcha": solved("status_code"),
                                      "phone": "1"})

    assert_errors(response, 400, "unexpected_field", field="phone")


def test_a_registration_challenge_does_not_work_for_a_code(xiamen, client_api):
    response = client_api.post(SEND, {"id_number": make_id_number(seq=1), "altcha": solved("register")})

    assert_errors(response, 400, "altcha_invalid", field="altcha")


def test_lookup_by_get_is_not_allowed(xiamen, client_api):
    assert client_api.get(f"{SEND}?id_number={make_id_number(seq=1)}").status_code == 405


def test_asking_for_codes_for_one_id_number_is_rate_limited(xiamen, client_api, settings):
    from allot.verification.ratelimit import DEFAULT_LIMITS

    settings.ALLOT_RATE_LIMITS = {"status_code": {"id": (DEFAULT_LIMITS["status_code"]["id"][0], 10**7)}}
    # given 5 requests (the per-ID limit)
    for _ in range(5):
        assert ask_code(client_api, 1).status_code == 202

    # when
    response = ask_code(client_api, 1)

    # then
    assert_errors(response, 429, "rate_limited")
