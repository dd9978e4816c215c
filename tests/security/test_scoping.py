"""Issue 5 §5: no IDOR. Every staff endpoint that takes an id, tried with an account of the same role but the
wrong scope (another campaign, another outlet), answers 404 and changes nothing. The list of endpoints is checked
against the URL patterns, so a new id-taking endpoint without a scoping check here fails the suite."""

from __future__ import annotations

import re

import pytest
from django.urls import get_resolver

from allot.pickup.models import PickupCode
from allot.privacy.models import AccessLog, ExportRequest
from tests.otp_client import OtpClient
from tests.security.dataset import PASSWORD, City, build_city
from tests.security.test_every_page_masked import _patterns

# Public by design (published draws, a campaign's public pages): the same for everyone, nothing to scope.
PUBLIC = re.compile(r"^(c/|draws/|api/v1/(campaigns|draws)|admin/|static/)")


# Endpoints of work in progress in another lane, each with the finding that keeps it out of the table for now.
# Remove an entry by adding its case to ``_cases``; the table test fails for any endpoint in neither place.
# Endpoints whose wrong-scope test lives beside their own fixtures (a courier and a parcel of Hangzhou's
# delivery campaign), not in the Xiamen dataset used here.
COVERED_ELSEWHERE = {
    "api-v1:courier_status": "tests/delivery/test_parcels.py::"
                             "test_the_api_answers_404_for_another_couriers_parcel_as_for_a_missing_one",
    "backoffice:manifest": "tests/backoffice/test_manifests.py::test_an_operator_of_another_campaign_gets_404",
    "backoffice:manifest-download": "tests/backoffice/test_manifests.py::"
                                    "test_an_operator_of_another_campaign_gets_404",
}


@pytest.fixture
def city(xiamen, django_capture_on_commit_callbacks) -> City:
    return build_city(xiamen, django_capture_on_commit_callbacks)


def _login(city: City, role: str) -> OtpClient:
    client = OtpClient()
    client.force_login(city.users[role])
    return client


def _cases(city: City) -> dict[str, tuple[str, str, str, dict[str, str]]]:
    """URL name → (wrong-scope role, method, path to an object of the xiamen campaign, POST data)."""
    d, reg, export = city.draw.pk, city.registrations[0].pk, city.export.pk
    purpose = {"purpose": "Checking a complaint from the hotline"}
    return {
        "backoffice:draw-verify": ("other_operator", "post", f"/staff/draws/{d}/verify/", {}),
        "backoffice:draw-notary": ("other_notary", "get", f"/staff/draws/{d}/notary/", {}),
        "backoffice:draw-beacon": ("other_operator", "get", f"/staff/draws/{d}/beacon/", {}),
        "backoffice:draw-execute": ("other_notary", "post", f"/staff/draws/{d}/run/", {}),
        "backoffice:registration": ("other_operator", "get", f"/staff/registrations/{reg}/", {}),
        "backoffice:registration-reveal": ("other_operator", "post", f"/staff/registrations/{reg}/reveal/",
                                           purpose),
        "backoffice:export-approve": ("other_operator", "post", f"/staff/exports/{export}/approve/", {}),
        "backoffice:export-download": ("other_operator", "post", f"/staff/exports/{export}/download/", {}),
    }


def test_every_id_taking_staff_endpoint_is_in_the_scoping_table(city):
    # given the URL patterns that take a parameter and are not public by design
    taking_ids = {name for route, name in _patterns(get_resolver().url_patterns)
                  if ("<" in route or "(?P" in route) and not PUBLIC.match(route)}
    # then each one is tried with a wrong-scope account below
    assert taking_ids - set(_cases(city)) - set(COVERED_ELSEWHERE) == set()


def test_wrong_scope_accounts_get_404_from_every_id_taking_endpoint_and_change_nothing(city):
    # given the state before
    logs_before = AccessLog.objects.count()
    export_state = ExportRequest.objects.get(pk=city.export.pk).state
    results = {}
    # when each endpoint is called by an account of the same role for another campaign
    for name, (role, method, path, data) in _cases(city).items():
        response = getattr(_login(city, role), method)(path, data)
        results[name] = response.status_code
    # then every one is "not found", and nothing was revealed, approved or logged
    assert results == dict.fromkeys(results, 404)
    assert AccessLog.objects.count() == logs_before
    assert ExportRequest.objects.get(pk=city.export.pk).state == export_state


def test_the_right_scope_reaches_the_same_endpoints(city):
    # given the same paths, called by the account whose campaign it is (so the 404s above mean "scope")
    right = {"other_operator": "operator", "other_notary": "notary"}
    results = {}
    for name, (role, method, path, data) in _cases(city).items():
        if name in ("backoffice:export-approve",):
            role = "operator2"  # the second approver
        elif name == "backoffice:export-download":
            continue  # needs an approval first: tests/privacy/test_export.py
        else:
            role = right[role]
        results[name] = getattr(_login(city, role), method)(path, data).status_code
    # then none is 404
    assert all(code in (200, 302) for code in results.values()), results


def test_a_clerk_cannot_redeem_or_see_another_outlets_code(city):
    # given a winner's code at outlet XM-SM-001 and the clerk of XM-HL-001
    pc = PickupCode.objects.filter(outlet=city.xiamen.outlets[0]).select_related("registration__person").first()
    assert pc is not None
    client = _login(city, "other_clerk")
    # when that clerk types the code on the page and through the API
    page = client.post("/staff/redeem/", {"code": pc.code, "nonce": "n-1"})
    token = OtpClient().post("/api/v1/auth/token", {"username": "other_clerk", "password": PASSWORD},
                             content_type="application/json").json()["token"]
    api = OtpClient().post("/api/v1/pickup/redeem", {"code": pc.code, "nonce": "n-2"},
                           content_type="application/json", headers={"Authorization": f"Bearer {token}"})
    # then it is refused, not redeemed, and nothing of the registration is shown
    pc.refresh_from_db()
    assert pc.redeemed_at is None
    for response in (page, api):
        assert response.status_code in (404, 409), response.content
        body = response.content.decode()
        assert pc.registration.number not in body
        assert pc.registration.person.name_masked not in body


def test_committee_staff_and_clerks_see_no_campaign_and_no_resident(city):
    # given committee staff and a clerk
    for role in ("committee", "clerk"):
        client = _login(city, role)
        reg = city.registrations[0]
        # when they try the operator pages
        codes = [client.get("/staff/registrations/").status_code,
                 client.get(f"/staff/registrations/{reg.pk}/").status_code,
                 client.get("/staff/exports/").status_code,
                 client.get("/staff/draws/").status_code]
        # then they are refused
        assert set(codes) == {403}, (role, codes)
