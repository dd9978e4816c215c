"""POST /pickup/redeem with a clerk's bearer token."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.utils import timezone

from allot.pickup.models import PickupCode
from allot.staff.models import StaffProfile
from tests.api.conftest import assert_errors

URL = "/pickup/redeem"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_clerk_redeems_a_winners_code_at_their_outlet(drawn, clerk_factory, token_for, client_api):
    # given
    clerk_factory(drawn.outlets[0])
    pc = drawn.winner.pickup

    # when the clerk types the code grouped and in lower case
    response = client_api.post(URL, {"code": f"{pc.code[:5]}-{pc.code[5:]}".lower()}, **_bearer(token_for("clerk")))

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["code"], body["number"]) == (pc.code, drawn.winner.number)
    assert body["outlet"] == {"code": "XM-SM-001", "name": "思明第一药房"}
    assert (body["good"], body["units"], body["unit_label"]) == ("一次性医用口罩", 5, "只")
    assert body["redeemed_at"].endswith("+08:00")
    assert PickupCode.objects.get(pk=pc.pk).redeemed_at is not None


def test_retry_with_the_same_nonce_returns_the_first_success(drawn, clerk_factory, token_for, client_api):
    clerk_factory(drawn.outlets[0])
    token, code = token_for("clerk"), drawn.winner.pickup.code
    first = client_api.post(URL, {"code": code, "nonce": "scan-1"}, **_bearer(token))

    retry = client_api.post(URL, {"code": code, "nonce": "scan-1"}, **_bearer(token))

    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.json() == first.json()


def test_idempotency_key_header_serves_as_the_nonce(drawn, clerk_factory, token_for, client_api):
    clerk_factory(drawn.outlets[0])
    headers = {**_bearer(token_for("clerk")), "Idempotency-Key": "scan-1"}
    first = client_api.post(URL, {"code": drawn.winner.pickup.code}, **headers)

    retry = client_api.post(URL, {"code": drawn.winner.pickup.code}, **headers)

    assert (first.status_code, retry.status_code) == (200, 200)
    assert PickupCode.objects.get(pk=drawn.winner.pickup.pk).redeem_nonce == "scan-1"


def test_second_redemption_with_another_nonce_is_already_redeemed(drawn, clerk_factory, token_for, client_api):
    clerk_factory(drawn.outlets[0])
    token, code = token_for("clerk"), drawn.winner.pickup.code
    assert client_api.post(URL, {"code": code, "nonce": "scan-1"}, **_bearer(token)).status_code == 200

    response = client_api.post(URL, {"code": code, "nonce": "scan-2"}, **_bearer(token))

    assert_errors(response, 409, "already_redeemed", field="code")


def test_redeem_without_a_token_is_unauthenticated(drawn, client_api):
    response = client_api.post(URL, {"code": drawn.winner.pickup.code})

    assert_errors(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"] == "Bearer"
    assert PickupCode.objects.get(pk=drawn.winner.pickup.pk).redeemed_at is None


def test_redeem_with_a_forged_token_is_unauthenticated(drawn, client_api):
    assert_errors(client_api.post(URL, {"code": drawn.winner.pickup.code}, **_bearer("eyJ1aWQiOjF9:abc:def")),
                  401, "unauthenticated")


def test_redeem_by_a_staff_member_who_is_not_a_clerk_is_not_a_clerk(drawn, token_for, client_api):
    user = get_user_model().objects.create_user(username="op", password="clerk-pass-123")
    StaffProfile.objects.create(user=user, role=StaffProfile.Role.OPERATOR)

    response = client_api.post(URL, {"code": drawn.winner.pickup.code}, **_bearer(token_for("op")))

    assert_errors(response, 403, "not_a_clerk")


def test_empty_code_is_code_required(drawn, clerk_factory, token_for, client_api):
    clerk_factory(drawn.outlets[0])
    assert_errors(client_api.post(URL, {"code": " - "}, **_bearer(token_for("clerk"))), 400, "code_required",
                  field="code")


def test_unknown_code_is_code_unknown(drawn, clerk_factory, token_for, client_api):
    clerk_factory(drawn.outlets[0])
    assert_errors(client_api.post(URL, {"code": "ZZZZZZZZZZ"}, **_bearer(token_for("clerk"))), 404,
                  "code_unknown", field="code")


def test_code_for_another_outlet_is_wrong_outlet(drawn, clerk_factory, token_for, client_api):
    clerk_factory(drawn.outlets[1])
    response = client_api.post(URL, {"code": drawn.winner.pickup.code}, **_bearer(token_for("clerk")))

    body = assert_errors(response, 409, "wrong_outlet", field="code")
    assert "思明第一药房" in body["errors"][0]["message"]


def test_code_before_its_window_is_not_yet_valid(drawn, clerk_factory, token_for, client_api):
    now = timezone.now()
    PickupCode.objects.filter(pk=drawn.winner.pickup.pk).update(valid_from=now + dt.timedelta(days=1),
                                                                 valid_until=now + dt.timedelta(days=2))
    clerk_factory(drawn.outlets[0])

    response = client_api.post(URL, {"code": drawn.winner.pickup.code}, **_bearer(token_for("clerk")))

    assert_errors(response, 409, "not_yet_valid", field="code")


def test_code_after_its_window_is_expired(drawn, clerk_factory, token_for, client_api):
    now = timezone.now()
    PickupCode.objects.filter(pk=drawn.winner.pickup.pk).update(valid_from=now - dt.timedelta(days=2),
                                                                 valid_until=now - dt.timedelta(days=1))
    clerk_factory(drawn.outlets[0])

    response = client_api.post(URL, {"code": drawn.winner.pickup.code}, **_bearer(token_for("clerk")))

    assert_errors(response, 409, "expired", field="code")


def test_nonce_longer_than_64_characters_is_too_long(drawn, clerk_factory, token_for, client_api):
    clerk_factory(drawn.outlets[0])
    response = client_api.post(URL, {"code": drawn.winner.pickup.code, "nonce": "n" * 65},
                               **_bearer(token_for("clerk")))
    assert_errors(response, 400, "too_long", field="nonce")


def test_redeem_with_an_unknown_field_is_unexpected_field(drawn, clerk_factory, token_for, client_api):
    clerk_factory(drawn.outlets[0])
    response = client_api.post(URL, {"code": drawn.winner.pickup.code, "outlet": "XM-SM-002"},
                               **_bearer(token_for("clerk")))
    assert_errors(response, 400, "unexpected_field", field="outlet")
