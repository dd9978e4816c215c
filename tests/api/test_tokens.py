"""POST /auth/token and the bearer token it issues."""

from __future__ import annotations

import datetime as dt
import time

from django.contrib.auth import get_user_model
from django.core import signing

from allot.api.v1.auth import TOKEN_SALT, token_user
from allot.staff.models import StaffProfile
from tests.api.conftest import assert_errors

URL = "/auth/token"


def test_clerk_gets_a_token_valid_for_12_hours(xiamen, clerk_factory, client_api):
    # given
    user = clerk_factory(xiamen.outlets[0])

    # when
    response = client_api.post(URL, {"username": "clerk", "password": "clerk-pass-123"})

    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["role"], body["outlet"]) == ("Bearer", "clerk", "XM-SM-001")
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(hours=11, minutes=59) < expires - dt.datetime.now(tz=dt.UTC) <= dt.timedelta(hours=12)
    assert token_user(body["token"]) == user


def test_wrong_password_is_invalid_credentials(xiamen, clerk_factory, client_api):
    clerk_factory(xiamen.outlets[0])
    assert_errors(client_api.post(URL, {"username": "clerk", "password": "wrong"}), 401, "invalid_credentials")


def test_user_without_a_staff_profile_is_invalid_credentials(db, client_api):
    get_user_model().objects.create_user(username="resident", password="clerk-pass-123")
    assert_errors(client_api.post(URL, {"username": "resident", "password": "clerk-pass-123"}), 401,
                  "invalid_credentials")


def test_inactive_user_is_invalid_credentials(xiamen, clerk_factory, client_api):
    user = clerk_factory(xiamen.outlets[0])
    user.is_active = False
    user.save()
    assert_errors(client_api.post(URL, {"username": "clerk", "password": "clerk-pass-123"}), 401,
                  "invalid_credentials")


def test_token_request_without_password_is_missing(db, client_api):
    assert_errors(client_api.post(URL, {"username": "clerk"}), 400, "missing", field="password")


def test_token_request_with_an_unknown_field_is_unexpected_field(db, client_api):
    response = client_api.post(URL, {"username": "clerk", "password": "x", "remember": True})
    assert_errors(response, 400, "unexpected_field", field="remember")


def test_password_guessing_is_throttled(xiamen, clerk_factory, client_api):
    clerk_factory(xiamen.outlets[0])
    for _ in range(10):
        assert client_api.post(URL, {"username": "clerk", "password": "guess"}).status_code == 401

    assert_errors(client_api.post(URL, {"username": "clerk", "password": "clerk-pass-123"}), 429, "throttled")


def test_throttle_is_not_dodged_by_a_forged_forwarded_for_header(xiamen, clerk_factory, client_api):
    clerk_factory(xiamen.outlets[0])
    for i in range(10):
        client_api.post(URL, {"username": "clerk", "password": "guess"}, **{"X-Forwarded-For": f"10.0.0.{i}"})

    response = client_api.post(URL, {"username": "clerk", "password": "guess"}, **{"X-Forwarded-For": "10.0.1.1"})

    assert_errors(response, 429, "throttled")


def test_token_stops_working_when_the_password_changes(xiamen, clerk_factory, token_for):
    user = clerk_factory(xiamen.outlets[0])
    token = token_for("clerk")

    user.set_password("another-pass-456")
    user.save()

    assert token_user(token) is None


def test_token_stops_working_when_the_user_is_deactivated(xiamen, clerk_factory, token_for):
    user = clerk_factory(xiamen.outlets[0])
    token = token_for("clerk")

    user.is_active = False
    user.save()

    assert token_user(token) is None


def test_token_stops_working_when_the_staff_profile_is_removed(xiamen, clerk_factory, token_for):
    user = clerk_factory(xiamen.outlets[0])
    token = token_for("clerk")

    StaffProfile.objects.filter(user=user).delete()

    assert token_user(token) is None


class _SignerIn13HoursAgo(signing.TimestampSigner):
    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - 13 * 3600)


def test_token_older_than_12_hours_is_refused(xiamen, clerk_factory, token_for):
    # given a token that was signed (for real) 13 hours ago
    user = clerk_factory(xiamen.outlets[0])
    good = token_for("clerk")
    old = _SignerIn13HoursAgo(salt=TOKEN_SALT).sign_object(signing.TimestampSigner(salt=TOKEN_SALT)
                                                            .unsign_object(good))

    # then
    assert token_user(good) == user
    assert token_user(old) is None


def test_token_signed_for_another_purpose_is_refused(xiamen, clerk_factory):
    user = clerk_factory(xiamen.outlets[0])
    forged = signing.TimestampSigner(salt="something.else").sign_object({"uid": user.pk, "pw": "x"})

    assert token_user(forged) is None
