"""The clerk page: redeem once, specific errors after, only at the clerk's own outlet."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from allot.pickup.models import PickupCode

URL = "/staff/redeem/"


def _nonce(response) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', response.content.decode()).group(1)


@pytest.fixture
def clerk(clerk_factory, xiamen):
    return clerk_factory(xiamen.outlets[0])


def test_redeem_url_is_the_staff_redeem_path():
    assert reverse("backoffice:redeem") == URL


def test_clerk_page_shows_the_code_input_and_a_fresh_nonce(client, clerk):
    client.force_login(clerk)

    first, second = client.get(URL), client.get(URL)

    body = first.content.decode()
    assert first.status_code == 200
    assert 'autocapitalize="characters"' in body and "autofocus" in body and 'inputmode="text"' in body
    assert "backoffice/scan.js" in body and "<script>" not in body
    assert _nonce(first) != _nonce(second)


def test_clerk_redeems_a_code_once_and_sees_the_specific_error_the_second_time(client, clerk, winning_code):
    client.force_login(clerk)

    ok = client.post(URL, {"code": winning_code.code.lower(), "nonce": _nonce(client.get(URL))})
    again = client.post(URL, {"code": winning_code.code, "nonce": _nonce(client.get(URL))})

    assert ok.status_code == 200
    assert 'data-code="ok"' in ok.content.decode()
    assert "5" in ok.content.decode() and winning_code.registration.number in ok.content.decode()
    assert again.status_code == 409
    assert 'data-code="already_redeemed"' in again.content.decode()
    winning_code.refresh_from_db()
    assert winning_code.redeemed_by == clerk


def test_double_submit_of_the_same_form_redeems_once_and_shows_ok_twice(client, clerk, winning_code):
    client.force_login(clerk)
    nonce = _nonce(client.get(URL))

    first = client.post(URL, {"code": winning_code.code, "nonce": nonce})
    second = client.post(URL, {"code": winning_code.code, "nonce": nonce})

    assert 'data-code="ok"' in first.content.decode()
    assert 'data-code="ok"' in second.content.decode()
    assert PickupCode.objects.filter(redeemed_at__isnull=False).count() == 1


def test_page_counts_todays_redemptions_at_the_outlet(client, clerk, winning_code):
    client.force_login(clerk)

    client.post(URL, {"code": winning_code.code, "nonce": "n1"})
    page = client.get(URL)

    assert page.context["today_count"] == 1


def test_clerk_of_another_outlet_sees_wrong_outlet_with_the_right_pharmacy(client, clerk_factory, xiamen,
                                                                         winning_code):
    other = clerk_factory(xiamen.outlets[2], username="clerk-huli")
    client.force_login(other)

    response = client.post(URL, {"code": winning_code.code, "nonce": "n1"})

    assert response.status_code == 409
    assert 'data-code="wrong_outlet"' in response.content.decode()
    assert winning_code.outlet.name in response.content.decode()
    winning_code.refresh_from_db()
    assert winning_code.redeemed_at is None


def test_unknown_code_is_reported_as_unknown(client, clerk, drawn):
    client.force_login(clerk)

    response = client.post(URL, {"code": "ZZZZZ-ZZZZZ", "nonce": "n1"})

    assert response.status_code == 404
    assert 'data-code="code_unknown"' in response.content.decode()


@pytest.mark.parametrize("role", ["operator", "notary", ""])
def test_non_clerks_get_403(client, staff_factory, xiamen, role):
    client.force_login(staff_factory("someone", role, campaigns=[xiamen.campaign]))

    assert client.get(URL).status_code == 403
    assert client.post(URL, {"code": "ABCDE"}).status_code == 403


def test_anonymous_is_sent_to_the_staff_login(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/staff/login/")
