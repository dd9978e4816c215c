"""Login, logout and the staff home page per role."""

from __future__ import annotations

from allot.staff.models import StaffProfile


def test_staff_login_logs_in_and_goes_to_the_staff_home(client, staff_factory, xiamen):
    staff_factory("op", StaffProfile.Role.OPERATOR, campaigns=[xiamen.campaign])

    response = client.post("/staff/login/", {"username": "op", "password": "staff-pass-123"})

    assert response.status_code == 302 and response["Location"] == "/staff/"


def test_wrong_password_stays_on_the_login_page(client, staff_factory):
    staff_factory("op", StaffProfile.Role.OPERATOR)

    response = client.post("/staff/login/", {"username": "op", "password": "nope"})

    assert response.status_code == 200 and not response.wsgi_request.user.is_authenticated


def test_logout_is_a_post_and_ends_the_session(client, staff_factory):
    client.force_login(staff_factory("op", StaffProfile.Role.OPERATOR))

    response = client.post("/staff/logout/")

    assert response.status_code == 302
    assert client.get("/staff/").status_code == 302


def test_home_shows_a_clerk_only_the_redeem_page(client, clerk_factory, xiamen):
    client.force_login(clerk_factory(xiamen.outlets[0]))

    page = client.get("/staff/").content.decode()

    assert "/staff/redeem/" in page and "/staff/draws/" not in page and "/staff/eligibility/" not in page


def test_home_shows_an_operator_draws_and_uploads(client, operator):
    client.force_login(operator)

    page = client.get("/staff/").content.decode()

    assert "/staff/draws/" in page and "/staff/eligibility/upload/" in page and "/staff/redeem/" not in page


def test_home_shows_a_notary_the_draws_only(client, notary):
    client.force_login(notary)

    page = client.get("/staff/").content.decode()

    assert "/staff/draws/" in page and "/staff/eligibility/upload/" not in page
