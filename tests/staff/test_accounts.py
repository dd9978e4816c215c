"""Issue 5 §8: staff accounts — lockout backoff after failed passwords, TOTP for operators and notaries, idle
and absolute session timeouts, sessions ended when an account is disabled."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from allot.staff import services
from allot.staff.middleware import SEEN, STARTED
from allot.staff.models import LoginFailures, StaffProfile

PASSWORD = "staff-pass-123"


@pytest.fixture
def make_staff(db, xiamen):
    def make(username: str, role: str) -> object:
        user = get_user_model().objects.create_user(username=username, password=PASSWORD)
        extra = {"outlet": xiamen.outlets[0]} if role == StaffProfile.Role.CLERK else {}
        profile = StaffProfile.objects.create(user=user, role=role, **extra)
        profile.campaigns.set([xiamen.campaign])
        return user

    return make


def _login(client: Client, username: str, password: str = PASSWORD) -> object:
    return client.post("/staff/login/", {"username": username, "password": password})


def _code(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


# --- lockout --------------------------------------------------------------------------------------------

def test_five_wrong_passwords_lock_the_name_and_even_the_right_password_is_refused(client, make_staff):
    make_staff("clerk1", StaffProfile.Role.CLERK)
    for _ in range(services.LOCK_AFTER):
        assert _login(client, "clerk1", "wrong-password").status_code == 200
    response = _login(client, "clerk1")
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "locked" in str(response.context["form"].errors.as_data()["__all__"][0].code)


def test_the_lock_doubles_with_each_further_failure_up_to_an_hour(db):
    now = timezone.now()
    locks = []
    for i in range(services.LOCK_AFTER + 8):
        row = services.login_failure_record(username="someone", now=now)
        if row.locked_until:
            locks.append(row.locked_until - now)
        assert i + 1 == row.failures
    assert locks[:3] == [dt.timedelta(minutes=1), dt.timedelta(minutes=2), dt.timedelta(minutes=4)]
    assert locks[-1] == dt.timedelta(hours=1)


def test_after_the_lock_expires_the_right_password_works_and_clears_the_count(client, make_staff):
    make_staff("clerk1", StaffProfile.Role.CLERK)
    past = timezone.now() - dt.timedelta(hours=2)
    for _ in range(services.LOCK_AFTER):
        services.login_failure_record(username="clerk1", now=past)
    assert _login(client, "clerk1").status_code == 302
    assert not LoginFailures.objects.filter(username="clerk1").exists()


def test_an_unknown_username_locks_the_same_way(client, db):
    for _ in range(services.LOCK_AFTER):
        _login(client, "nobody-here", "x")
    assert services.login_locked_until(username="NoBody-Here ") is not None


def test_the_api_token_endpoint_obeys_the_same_lock(client, make_staff):
    make_staff("clerk1", StaffProfile.Role.CLERK)
    for _ in range(services.LOCK_AFTER):
        services.login_failure_record(username="clerk1")
    response = client.post("/api/v1/auth/token", {"username": "clerk1", "password": PASSWORD},
                           content_type="application/json")
    assert response.status_code == 401


# --- TOTP -----------------------------------------------------------------------------------------------

def test_an_operator_after_the_password_must_enrol_a_totp_device_before_any_staff_page(client, make_staff):
    make_staff("op1", StaffProfile.Role.OPERATOR)
    assert _login(client, "op1").status_code == 302
    response = client.get("/staff/draws/")
    assert response.status_code == 302 and response["Location"].startswith("/staff/2fa/")
    page = client.get(response["Location"])
    assert page.status_code == 200 and page.context["enrolling"] and "<svg" in page.content.decode()
    assert client.get("/admin/").status_code == 302  # the admin too


def test_a_correct_code_enrols_the_device_and_opens_the_pages(client, make_staff):
    user = make_staff("op1", StaffProfile.Role.OPERATOR)
    _login(client, "op1")
    client.get("/staff/2fa/")
    device = TOTPDevice.objects.get(user=user)
    response = client.post("/staff/2fa/", {"token": _code(device), "next": "/staff/draws/"})
    assert response.status_code == 302 and response["Location"] == "/staff/draws/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/staff/draws/").status_code == 200


def test_a_wrong_code_is_refused(client, make_staff):
    user = make_staff("notary1", StaffProfile.Role.NOTARY)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    _login(client, "notary1")
    response = client.post("/staff/2fa/", {"token": "000000"})
    assert response.status_code == 400
    assert client.get("/staff/draws/").status_code == 302


def test_the_second_factor_is_not_asked_of_a_clerk(client, make_staff):
    make_staff("clerk1", StaffProfile.Role.CLERK)
    _login(client, "clerk1")
    assert client.get("/staff/redeem/").status_code == 200


def test_the_next_parameter_cannot_send_the_user_to_another_site(client, make_staff):
    user = make_staff("op1", StaffProfile.Role.OPERATOR)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    _login(client, "op1")
    response = client.post("/staff/2fa/", {"token": _code(device), "next": "https://evil.example/"})
    assert response["Location"] == "/staff/"


# --- session timeouts and disabling ---------------------------------------------------------------------

def _age_session(client: Client, *, started: int, seen: int) -> None:
    session = client.session
    session[STARTED], session[SEEN] = started, seen
    session.save()


@override_settings(ALLOT_STAFF_IDLE_SECONDS=600)
def test_an_idle_session_is_ended(client, make_staff):
    make_staff("clerk1", StaffProfile.Role.CLERK)
    _login(client, "clerk1")
    now = int(time.time())
    _age_session(client, started=now - 700, seen=now - 601)
    response = client.get("/staff/redeem/")
    assert response.status_code == 302 and response["Location"].startswith("/staff/login/")


@override_settings(ALLOT_STAFF_IDLE_SECONDS=600, ALLOT_STAFF_ABSOLUTE_SECONDS=3600)
def test_a_busy_session_still_ends_at_the_absolute_timeout(client, make_staff):
    make_staff("clerk1", StaffProfile.Role.CLERK)
    _login(client, "clerk1")
    now = int(time.time())
    _age_session(client, started=now - 3601, seen=now - 5)
    assert client.get("/staff/redeem/").status_code == 302


@override_settings(ALLOT_STAFF_IDLE_SECONDS=600)
def test_an_active_session_goes_on(client, make_staff):
    make_staff("clerk1", StaffProfile.Role.CLERK)
    _login(client, "clerk1")
    now = int(time.time())
    _age_session(client, started=now - 500, seen=now - 300)
    assert client.get("/staff/redeem/").status_code == 200


def test_disabling_an_account_ends_its_sessions_at_once(make_staff):
    user = make_staff("clerk1", StaffProfile.Role.CLERK)
    phone, desk = Client(), Client()
    _login(phone, "clerk1")
    _login(desk, "clerk1")
    assert Session.objects.count() == 2
    ended = services.staff_account_disable(user=user)
    assert ended == 2
    assert Session.objects.count() == 0
    assert phone.get("/staff/redeem/").status_code == 302


def test_disabling_through_the_admin_user_page_ends_sessions_too(make_staff):
    user = make_staff("clerk1", StaffProfile.Role.CLERK)
    desk = Client()
    _login(desk, "clerk1")
    user.is_active = False
    user.save()  # what the admin's user form does
    assert Session.objects.count() == 0
