"""Division import, outlet/committee CSV import, and the scheduler's single-run lease."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from allot.core.locking import lease_acquire, lease_release
from allot.places.models import Committee, Division, Outlet
from allot.places.services import divisions_import, outlets_import_csv, places_import_csv
from allot.worker.jobs import run_due_jobs


def test_divisions_include_xiamen_and_the_2021_hangzhou_districts(db):
    divisions_import()
    assert Division.objects.get(code="350206").name == "湖里区"
    assert Division.objects.get(code="330114").parent_id == "3301"  # 钱塘区, created 2021
    assert Division.objects.get(code="330113").name == "临平区"
    assert divisions_import(province_code="35") > 80  # idempotent re-run


def test_places_csv_imports_committees_and_reports_bad_rows(db):
    divisions_import(province_code="35")
    report = places_import_csv(text=(
        "district_code,street_code,street_name,committee_code,committee_name\n"
        "350203,350203001,中华街道,350203001001,中华社区居委会\n"
        "999999,999999001,无,999999001001,无\n"))
    assert report.created == 1 and len(report.errors) == 1 and "line 3" in report.errors[0]
    assert Committee.objects.get(code="350203001001").street.district_id == "350203"


def test_outlet_csv_validates_codes_and_coordinates(db):
    divisions_import(province_code="35")
    report = outlets_import_csv(text=(
        "code,name,district_code,address,latitude,longitude,opening_hours\n"
        "XM-1,甲药房,350203,中山路1号,24.45,118.08,08:00-22:00\n"
        "bad code,乙药房,350203,中山路2号,24.45,118.08,08:00-22:00\n"
        "XM-3,丙药房,350203,中山路3号,north,118.08,08:00-22:00\n"))
    assert report.created == 1 and len(report.errors) == 2
    assert Outlet.objects.get(code="XM-1").latitude == Decimal("24.45")


def test_a_lease_is_held_by_one_worker_at_a_time(db):
    now = timezone.now()
    assert lease_acquire(name="job:x", holder="a", seconds=60, now=now)
    assert not lease_acquire(name="job:x", holder="b", seconds=60, now=now)
    assert lease_acquire(name="job:x", holder="b", seconds=60, now=now + dt.timedelta(seconds=61))
    lease_release(name="job:x", holder="b")
    assert lease_acquire(name="job:x", holder="a", seconds=60)


def test_two_workers_run_a_due_job_once(xiamen):
    now = timezone.now()
    lease_acquire(name="job:draws", holder="worker-a", seconds=60, now=now)  # worker a is mid-run
    assert "draws" not in run_due_jobs(holder="worker-b", last_run={}, now=now)
    lease_release(name="job:draws", holder="worker-a")
    assert "draws" in run_due_jobs(holder="worker-b", last_run={}, now=now)
