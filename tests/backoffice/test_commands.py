"""Management commands: thin wrappers over the services."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from allot.backoffice.demo.xiamen import PLACES_CSV
from allot.campaigns.models import Supply
from allot.identity.models import EligibilityList
from allot.places.models import Division, Outlet
from tests.conftest import make_id_number

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_draw_now_of_an_unknown_campaign_fails():
    with pytest.raises(CommandError):
        run("draw_now", "nowhere")


def test_import_divisions_loads_one_province():
    out = run("import_divisions", "--province", "35")

    assert "divisions loaded" in out
    assert Division.objects.filter(code="350213", parent_id="3502").exists()


def test_import_places_and_outlets_from_files(tmp_path):
    run("import_divisions", "--province", "35")
    outlets = tmp_path / "outlets.csv"
    outlets.write_text("code,name,district_code,address,latitude,longitude,opening_hours\n"
                       "XM-TA-900,同安测试药房,350212,同安区大同路1号,24.74,118.15,08:00-22:00\n", encoding="utf-8")

    places_out = run("import_places", str(PLACES_CSV))
    outlets_out = run("import_outlets", str(outlets))

    assert "committees: 24 created" in places_out
    assert "outlets: 1 created" in outlets_out
    assert Outlet.objects.get(code="XM-TA-900").district_id == "350212"


def test_import_eligibility_creates_the_list_and_reports_line_errors_by_code(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text(f"id_number\n{make_id_number(seq=1)}\n12345\n", encoding="utf-8")
    err = io.StringIO()

    out = io.StringIO()
    call_command("import_eligibility", "xiamen-hukou", str(f), "--name", "厦门户籍", stdout=out, stderr=err)

    lst = EligibilityList.objects.get(code="xiamen-hukou")
    assert lst.name == "厦门户籍" and lst.size == 1
    assert "1 added" in out.getvalue() and "(created)" in out.getvalue()
    assert "id_number_format" in err.getvalue() and "12345" not in err.getvalue().replace("line 3", "")


def test_set_supply_sets_packs_for_the_round(xiamen):
    out = run("set_supply", "xiamen-masks", "2031-03-04", "XM-SM-002", "40")

    assert "40 packs" in out
    assert Supply.objects.get(round__draw_date=dt.date(2031, 3, 4), outlet__code="XM-SM-002").packs == 40


def test_create_staff_binds_a_clerk_to_an_outlet_and_prints_a_generated_password(xiamen):
    out = run("create_staff", "pharmacist", "--role", "clerk", "--outlet", "XM-HL-001")

    user = get_user_model().objects.get(username="pharmacist")
    password = re.search(r"password: (\S+)", out).group(1)
    assert user.staff.role == "clerk" and user.staff.outlet.code == "XM-HL-001"
    assert user.check_password(password)


def test_create_staff_refuses_a_clerk_without_an_outlet(xiamen):
    with pytest.raises(CommandError, match="clerk_needs_outlet"):
        run("create_staff", "pharmacist", "--role", "clerk")
