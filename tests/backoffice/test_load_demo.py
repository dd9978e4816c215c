"""load_demo: the demo city of Xiamen, built once for this module (it takes a couple of seconds)."""

from __future__ import annotations

import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from allot.campaigns.models import Campaign, Supply
from allot.identity.models import EligibilityList, Person
from allot.identity.validation import normalize_id_number
from allot.places.models import Committee, Division, Outlet
from allot.registrations.models import Registration
from allot.registrations.services import RegistrationRequest, registration_create
from allot.staff.models import StaffProfile

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture(scope="module")
def demo_output(django_db_setup, django_db_blocker):
    """load_demo once, committed; each test runs in a transaction rolled back after it. Flushed at the end so
    the other modules start from an empty database."""
    with django_db_blocker.unblock():
        out = run("load_demo", "--seed", "7")
    yield out
    with django_db_blocker.unblock():
        call_command("flush", "--no-input", verbosity=0)


def test_load_demo_yields_six_districts_and_at_least_55_outlets(demo_output):
    assert set(Division.objects.filter(parent_id="3502").values_list("code", flat=True)) == {
        "350203", "350205", "350206", "350211", "350212", "350213"}
    assert Outlet.objects.filter(district__parent_id="3502").count() >= 55
    for district in Division.objects.filter(parent_id="3502"):
        assert district.outlets.count() >= 9


def test_load_demo_outlets_lie_inside_their_districts_boxes(demo_output):
    from allot.backoffice.demo.xiamen import DISTRICTS

    for d in DISTRICTS:
        for o in Outlet.objects.filter(district_id=d.code):
            assert d.lat[0] <= float(o.latitude) <= d.lat[1] and d.lng[0] <= float(o.longitude) <= d.lng[1]


def test_load_demo_creates_the_three_accounts(demo_output):
    roles = dict(StaffProfile.objects.values_list("user__username", "role"))

    assert roles == {"operator": "operator", "notary": "notary", "clerk": "clerk"}
    assert get_user_model().objects.get(username="operator").is_superuser
    assert StaffProfile.objects.get(user__username="clerk").outlet.district_id == "350203"
    assert get_user_model().objects.get(username="clerk").check_password("demo-clerk-2026")
    assert "demo-operator-2026" in demo_output


def test_load_demo_creates_the_active_campaign_with_supply_and_registrations(demo_output):
    c = Campaign.objects.get(slug="xiamen-masks")

    assert c.status == Campaign.Status.ACTIVE and c.beacon_kind == Campaign.Beacon.SYNTHETIC
    assert c.cooldown_days == 7 and "7 天" in c.rules_text
    assert set(c.eligibility_lists.values_list("code", flat=True)) == {"xiamen-hukou", "xiamen-social-insurance"}
    assert Supply.objects.filter(round__campaign=c).values("round").distinct().count() == 4
    assert Registration.objects.filter(campaign=c).count() >= 200
    assert Committee.objects.exists()


def test_load_demo_stores_no_id_number_in_clear(demo_output):
    demo_id = re.search(r"ID number (\S+)", demo_output).group(1)

    assert not Person.objects.filter(id_masked=demo_id).exists()
    assert EligibilityList.objects.get(code="xiamen-hukou").size == 2400


def test_the_printed_demo_resident_is_eligible_and_can_register(demo_output):
    m = re.search(r"name (\S+)\s+ID number (\S+)\s+phone (\S+)", demo_output)
    name, id_number, phone = m.groups()
    c = Campaign.objects.get(slug="xiamen-masks")
    noon = dt.datetime.combine(dt.datetime.now(ZoneInfo("Asia/Shanghai")).date(), dt.time(12),
                               tzinfo=ZoneInfo("Asia/Shanghai"))

    reg = registration_create(campaign=c, now=noon, request=RegistrationRequest(
        name=name, id_number=id_number, phone=phone, district="350203", outlet="XM-SM-001", consent=True))

    assert normalize_id_number(id_number) == id_number
    assert reg.status == Registration.Status.REGISTERED


def test_load_demo_runs_twice_without_error(demo_output):
    again = run("load_demo", "--seed", "7")

    assert "0 created, 60 updated" in again
    assert re.search(r"ID number (\S+)", again).group(1) == re.search(r"ID number (\S+)", demo_output).group(1)


def test_draw_now_prints_the_draw_winners_and_verification(demo_output):
    out = run("draw_now", "xiamen-masks")

    assert re.search(r"^draw: xiamen-masks-\d{8}$", out, re.M)
    assert re.search(r"^winners: \d+$", out, re.M)
    assert "verify: OK" in out
