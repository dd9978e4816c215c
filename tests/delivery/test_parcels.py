"""Parcels: courier status reports (idempotent, monotonic), manifests, units of undeliverable parcels."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile

import pytest
from django.test import Client
from django.utils import timezone

from allot.delivery.models import Courier, Parcel, ParcelEvent
from allot.delivery.services import (
    StatusReport,
    courier_key_issue,
    manifest_assign,
    manifest_csv,
    manifest_rows,
    manifest_xlsx,
    parcel_status_report,
)
from allot.firstcome.models import Quota
from allot.firstcome.services import claim_create, undeliverable_units_return
from tests.firstcome.hangzhou import claim_request

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def courier(hangzhou):
    c = Courier.objects.create(code="sf-xihu", name="顺丰西湖", company="顺丰")
    c.districts.add("330106")
    return c


@pytest.fixture
def parcel(hangzhou, courier):
    claim = claim_create(campaign=hangzhou, request=claim_request(1))
    manifest_assign(courier=courier, day=claim.day)
    return Parcel.objects.get(claim=claim)


def _report(parcel, status, minutes, event_id=""):
    return StatusReport(parcel=parcel.number, status=status, at=T0 + dt.timedelta(minutes=minutes), event_id=event_id)


def test_a_status_report_moves_the_parcel_forward(parcel, courier):
    outcome = parcel_status_report(courier=courier, report=_report(parcel, "picked_up", 0))

    assert (outcome.result, outcome.status) == ("applied", "picked_up")


def test_the_same_report_twice_is_a_no_op(parcel, courier):
    parcel_status_report(courier=courier, report=_report(parcel, "picked_up", 0))

    again = parcel_status_report(courier=courier, report=_report(parcel, "picked_up", 0))

    assert again.result == "duplicate"
    assert ParcelEvent.objects.count() == 1


def test_an_older_report_arriving_late_does_not_move_the_parcel_back(parcel, courier):
    parcel_status_report(courier=courier, report=_report(parcel, "out_for_delivery", 30))

    late = parcel_status_report(courier=courier, report=_report(parcel, "picked_up", 0))

    assert (late.result, late.status) == ("stale", "out_for_delivery")
    assert ParcelEvent.objects.count() == 2


def test_a_delivered_parcel_never_changes_again(parcel, courier):
    parcel_status_report(courier=courier, report=_report(parcel, "delivered", 60))

    after = parcel_status_report(courier=courier, report=_report(parcel, "undeliverable", 90))

    assert (after.result, after.status) == ("terminal", "delivered")
    parcel.refresh_from_db()
    assert parcel.status == "delivered"


def test_a_parcel_of_another_courier_looks_unknown_and_does_not_move(parcel, hangzhou):
    other = Courier.objects.create(code="yto", name="圆通")

    before = Parcel.objects.get(pk=parcel.pk).status
    assert parcel_status_report(courier=other, report=_report(parcel, "picked_up", 0)).result == "unknown_parcel"
    parcel.refresh_from_db()
    assert parcel.status == before != "picked_up"


def test_the_api_answers_404_for_another_couriers_parcel_as_for_a_missing_one(parcel, hangzhou):
    other = Courier.objects.create(code="yto", name="圆通")
    c = Client(HTTP_AUTHORIZATION=f"Bearer {courier_key_issue(courier=other)}")
    body = {"status": "picked_up", "at": T0.isoformat()}
    theirs = c.post(f"/api/v1/courier/parcels/{parcel.number}/status", {**body, "parcel": parcel.number},
                    content_type="application/json")
    missing = c.post("/api/v1/courier/parcels/ZZZZZZZZZZ/status", {**body, "parcel": "ZZZZZZZZZZ"},
                     content_type="application/json")

    assert theirs.status_code == missing.status_code == 404, (theirs.content, missing.content)
    assert theirs.json()["errors"][0]["code"] == missing.json()["errors"][0]["code"] == "unknown_parcel"


def test_an_undeliverable_parcel_returns_its_unit_to_the_next_days_quota_once(parcel, courier):
    parcel_status_report(courier=courier, report=StatusReport(parcel=parcel.number, status="undeliverable",
                                                              at=timezone.now(), note="查无此人"))

    assert undeliverable_units_return() == 1
    assert undeliverable_units_return() == 0
    tomorrow = Quota.objects.get(day=parcel.claim.day + dt.timedelta(days=1))
    assert (tomorrow.units, tomorrow.returned) == (4, 1)


def test_the_manifest_has_the_couriers_columns_in_csv_and_xlsx(parcel, courier):
    courier.columns = [["parcel", "运单号"], ["recipient", "收件人"], ["phone", "电话"], ["address", "地址"]]
    rows = manifest_rows(courier=courier, day=parcel.claim.day)

    text = manifest_csv(rows=rows, columns=courier.columns).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    xlsx = manifest_xlsx(rows=rows, columns=courier.columns)

    assert table[0] == ["运单号", "收件人", "电话", "地址"]
    assert table[1] == [parcel.number, "王五", "13900000001", "杭州市西湖区北山街道北山社区3幢2单元301室"]
    assert b"sharedStrings" in zipfile.ZipFile(io.BytesIO(xlsx)).read("[Content_Types].xml")


# --- the courier API ------------------------------------------------------------------------------------

def _api(path, body, key, method="post"):
    c = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    if method == "get":
        return c.get(path, body)
    return c.post(path, json.dumps(body), content_type="application/json")


def test_the_courier_api_needs_a_key(parcel):
    response = _api("/api/v1/courier/parcels/status", {"updates": []}, "ck_wrong")

    assert response.status_code == 401


def test_a_batch_of_reports_is_idempotent_and_ordered(parcel, courier):
    key = courier_key_issue(courier=courier)
    updates = [{"parcel": parcel.number, "status": "out_for_delivery", "at": "2026-03-02T18:30:00+08:00",
                "event_id": "e2"},
               {"parcel": parcel.number, "status": "picked_up", "at": "2026-03-02T18:00:00+08:00", "event_id": "e1"},
               {"parcel": "NOSUCHPARC", "status": "delivered", "at": "2026-03-02T18:00:00+08:00"}]

    first = _api("/api/v1/courier/parcels/status", {"updates": updates}, key).json()["results"]
    second = _api("/api/v1/courier/parcels/status", {"updates": updates}, key).json()["results"]

    assert [r["result"] for r in first] == ["applied", "stale", "unknown_parcel"]
    assert [r["result"] for r in second] == ["duplicate", "duplicate", "unknown_parcel"]
    parcel.refresh_from_db()
    assert parcel.status == "out_for_delivery"


def test_a_single_report_with_an_unknown_status_is_400(parcel, courier):
    key = courier_key_issue(courier=courier)

    response = _api(f"/api/v1/courier/parcels/{parcel.number}/status",
                    {"parcel": parcel.number, "status": "lost", "at": "2026-03-02T18:00:00+08:00"}, key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "status_invalid"


def test_the_manifest_downloads_as_xlsx(parcel, courier):
    key = courier_key_issue(courier=courier)

    response = _api("/api/v1/courier/manifest", {"day": parcel.claim.day.isoformat(), "format": "xlsx"}, key,
                    method="get")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert zipfile.is_zipfile(io.BytesIO(response.content))
