"""Operator and notary pages: the draw list (scoped), draw now, verify again, notary digits, beacon and run."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from django.utils import timezone

from allot.campaigns.models import Campaign
from allot.campaigns.selectors import draw_date_for
from allot.campaigns.services import round_get_or_create
from allot.draws.models import Draw
from allot.draws.services import draw_commit, draw_notary_digits_submit
from allot.staff.models import StaffProfile


@pytest.fixture
def committed(xiamen, registered):
    """The current round committed just now, its beacon round ten minutes away (waiting for the notary)."""
    Campaign.objects.filter(pk=xiamen.campaign.pk).update(min_gap_seconds=600)
    xiamen.campaign.refresh_from_db()
    return draw_commit(round_=round_get_or_create(campaign=xiamen.campaign, draw_date=draw_date_for(xiamen.campaign)))


@pytest.fixture
def beacon_due(xiamen, registered):
    """The current round committed an hour ago, notary digits in, its beacon round already produced."""
    committed_at = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
    d = draw_commit(round_=round_get_or_create(campaign=xiamen.campaign, draw_date=draw_date_for(xiamen.campaign)),
                    now=committed_at)
    return draw_notary_digits_submit(draw=d, digits="31415926", actor=None, now=committed_at)


@pytest.fixture
def other_operator(staff_factory, xiamen):
    other = Campaign.objects.create(slug="other-city", name="别的城市", good="口罩", city=xiamen.campaign.city,
                                    status=Campaign.Status.ACTIVE, starts_on=dt.date(2020, 1, 1),
                                    beacon_kind=Campaign.Beacon.SYNTHETIC)
    return staff_factory("op2", StaffProfile.Role.OPERATOR, campaigns=[other])


def test_operator_sees_the_draws_of_their_campaign_with_bundle_links(client, operator, drawn):
    client.force_login(operator)

    page = client.get("/staff/draws/").content.decode()

    assert drawn.draw_id in page
    assert f'href="/draws/{drawn.draw_id}/"' in page and f'href="/draws/{drawn.draw_id}.zip"' in page
    assert "SYNTHETIC" in page  # the verify summary


def test_operator_of_another_campaign_sees_none_of_its_draws(client, other_operator, drawn):
    client.force_login(other_operator)

    page = client.get("/staff/draws/")

    assert page.status_code == 200
    assert drawn.draw_id not in page.content.decode()
    assert client.get(f"/staff/draws/{drawn.pk}/beacon/").status_code == 404
    assert client.post(f"/staff/draws/{drawn.pk}/verify/").status_code == 404


def test_superuser_sees_every_draw(client, staff_factory, drawn):
    client.force_login(staff_factory("root", "", superuser=True))

    assert drawn.draw_id in client.get("/staff/draws/").content.decode()


def test_clerk_cannot_open_the_draw_list(client, clerk_factory, xiamen):
    client.force_login(clerk_factory(xiamen.outlets[0]))

    assert client.get("/staff/draws/").status_code == 403


def test_draw_now_button_draws_the_current_round_and_opens_pickup(client, operator, registered, xiamen):
    client.force_login(operator)

    response = client.post("/staff/draws/run-now/", {"campaign": "xiamen-masks"}, follow=True)

    d = Draw.objects.get(round=registered[0].round)
    assert d.state == Draw.State.PUBLISHED and d.winners == 2
    assert d.draw_id in response.content.decode()


def test_draw_now_is_refused_for_a_campaign_with_a_public_beacon(client, operator, registered, xiamen):
    Campaign.objects.filter(pk=xiamen.campaign.pk).update(beacon_kind=Campaign.Beacon.DRAND)
    client.force_login(operator)

    response = client.post("/staff/draws/run-now/", {"campaign": "xiamen-masks"})

    assert response.status_code == 404
    assert not Draw.objects.exists()


def test_notary_cannot_press_draw_now(client, notary, registered):
    client.force_login(notary)

    assert client.post("/staff/draws/run-now/", {"campaign": "xiamen-masks"}).status_code == 403
    assert not Draw.objects.exists()


def test_verify_again_records_the_verifier_verdict(client, operator, drawn):
    Draw.objects.filter(pk=drawn.pk).update(verified_at=None, verify_summary="")
    client.force_login(operator)

    client.post(f"/staff/draws/{drawn.pk}/verify/")

    drawn.refresh_from_db()
    assert drawn.verified_at is not None and drawn.verify_summary.startswith("OK")


def test_notary_records_digits_before_the_beacon_round(client, notary, committed):
    client.force_login(notary)

    response = client.post(f"/staff/draws/{committed.pk}/notary/", {"digits": "20 26 11 25"})

    assert response.status_code == 302
    committed.refresh_from_db()
    assert committed.notary_digits == "20261125"
    assert committed.notary_source == "notary" and committed.notary == notary


def test_notary_digits_too_short_are_refused_with_the_code(client, notary, committed):
    client.force_login(notary)

    response = client.post(f"/staff/draws/{committed.pk}/notary/", {"digits": "123"})

    assert response.status_code == 400
    assert "notary_digits_invalid" in response.content.decode()
    committed.refresh_from_db()
    assert committed.notary_digits == ""


def test_operator_cannot_enter_notary_digits(client, operator, committed):
    client.force_login(operator)

    assert client.post(f"/staff/draws/{committed.pk}/notary/", {"digits": "123456"}).status_code == 403


def test_beacon_form_records_the_value_then_run_the_draw_publishes_it(client, notary, beacon_due):
    client.force_login(notary)
    signature = secrets.token_hex(48)

    recorded = client.post(f"/staff/draws/{beacon_due.pk}/beacon/",
                           {"round": beacon_due.beacon_round, "signature": signature, "randomness": ""})
    page = client.get(f"/staff/draws/{beacon_due.pk}/beacon/").content.decode()
    run = client.post(f"/staff/draws/{beacon_due.pk}/run/")

    assert recorded.status_code == 302
    assert f'action="/staff/draws/{beacon_due.pk}/run/"' in page
    assert run.status_code == 302
    beacon_due.refresh_from_db()
    assert beacon_due.beacon_signature == signature
    assert beacon_due.state == Draw.State.PUBLISHED and beacon_due.winners == 2


def test_beacon_for_the_wrong_round_is_refused_with_the_code(client, operator, beacon_due):
    client.force_login(operator)

    response = client.post(f"/staff/draws/{beacon_due.pk}/beacon/",
                           {"round": beacon_due.beacon_round + 1, "signature": "ab" * 48})

    assert response.status_code == 400
    assert "beacon_wrong_round" in response.content.decode()


def test_run_the_draw_without_the_beacon_shows_draw_not_ready(client, operator, beacon_due):
    client.force_login(operator)

    response = client.post(f"/staff/draws/{beacon_due.pk}/run/", follow=True)

    assert "draw_not_ready" in response.content.decode()
    beacon_due.refresh_from_db()
    assert beacon_due.state == Draw.State.COMMITTED
