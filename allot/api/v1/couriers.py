"""/api/v1/courier: a courier's manifest (CSV or XLSX in its own columns) and parcel status reports.

Authentication: ``Authorization: Bearer ck_…``, a courier key issued in the admin (only its hash is stored).
Status reports are idempotent (the same report twice is ``duplicate``), never move a parcel backwards
(``stale``) and never change a delivered or undeliverable parcel (``terminal``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema
from ninja.security import HttpBearer
from pydantic import ConfigDict

from allot.core.errors import DomainError
from allot.delivery.models import Courier
from allot.delivery.services import (
    StatusReport,
    courier_for_key,
    manifest_assign,
    manifest_csv,
    manifest_rows,
    manifest_xlsx,
    parcel_status_report,
    parcel_status_report_batch,
)

from .errors import ErrorsOut

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class CourierKey(HttpBearer):
    """``request.auth`` is the ``Courier``."""

    def authenticate(self, request: HttpRequest, token: str) -> Courier | None:
        return courier_for_key(token)


couriers = Router(tags=["couriers"], auth=CourierKey())


class StatusIn(Schema):
    model_config = ConfigDict(extra="forbid")

    parcel: str = Field(max_length=20, description="The parcel number on the label.")
    status: str = Field(max_length=20, description="manifested | picked_up | out_for_delivery | delivered | "
                        "undeliverable")
    at: dt.datetime = Field(description="When it happened, ISO 8601 with offset.")
    event_id: str = Field("", max_length=64, description="Your id of this report; makes a resend a no-op. "
                          "Without it, parcel+status+at identify the report.")
    note: str = Field("", max_length=200)


class BatchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    updates: list[StatusIn] = Field(max_length=500)


class StatusResultOut(Schema):
    parcel: str
    result: str = Field(description="applied | duplicate | stale | terminal | unknown_parcel | "
                        "status_invalid | at_naive | at_in_future")
    status: str


class BatchOut(Schema):
    results: list[StatusResultOut]


def _report(item: StatusIn) -> StatusReport:
    return StatusReport(parcel=item.parcel, status=item.status, at=item.at, event_id=item.event_id, note=item.note)


def _courier(request: HttpRequest) -> Courier:
    return request.auth  # type: ignore[attr-defined]  # set by CourierKey


@couriers.post("/parcels/status", response={200: BatchOut, 400: ErrorsOut, 401: ErrorsOut},
               url_name="courier_status_batch", summary="Report the status of many parcels (idempotent)",
               description="Each update is handled on its own; the results come back in the same order.")
def courier_status_batch(request: HttpRequest, payload: BatchIn) -> dict[str, Any]:
    outcomes = parcel_status_report_batch(courier=_courier(request), reports=[_report(u) for u in payload.updates])
    return {"results": [{"parcel": o.parcel, "result": o.result, "status": o.status} for o in outcomes]}


@couriers.post("/parcels/{number}/status", response={200: StatusResultOut, 400: ErrorsOut, 401: ErrorsOut,
                                                     403: ErrorsOut, 404: ErrorsOut},
               url_name="courier_status", summary="Report the status of one parcel (idempotent)",
               description="400: status_invalid, at_naive, at_in_future. 404: unknown_parcel (also for a parcel "
                           "assigned to another courier).")
def courier_status(request: HttpRequest, number: str, payload: StatusIn) -> dict[str, Any]:
    report = _report(payload)
    outcome = parcel_status_report(courier=_courier(request), report=StatusReport(
        parcel=number, status=report.status, at=report.at, event_id=report.event_id, note=report.note))
    if outcome.result == "unknown_parcel":
        raise DomainError(_("Unknown parcel number."), code="unknown_parcel", field="parcel", status=404)
    return {"parcel": outcome.parcel, "result": outcome.result, "status": outcome.status}


@couriers.get("/manifest", response={400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut}, url_name="courier_manifest",
              summary="The day's manifest in your columns (CSV or XLSX)",
              description=("Assigns the day's unassigned parcels in your districts (or the one given) to you, "
                           "then returns all of yours. 403: district_not_served."),
              openapi_extra={"responses": {"200": {"description": "The manifest", "content": {
                  "text/csv": {"schema": {"type": "string"}},
                  XLSX: {"schema": {"type": "string", "format": "binary"}}}}}})
def courier_manifest(request: HttpRequest, day: dt.date, district: str = Query("", max_length=6),
                     format: str = Query("csv", pattern="^(csv|xlsx)$")) -> HttpResponse:
    courier = _courier(request)
    manifest_assign(courier=courier, day=day, district_code=district or None)
    rows = manifest_rows(courier=courier, day=day, district_code=district or None)
    name = f"manifest-{courier.code}-{day:%Y%m%d}{'-' + district if district else ''}"
    if format == "xlsx":
        response = HttpResponse(manifest_xlsx(rows=rows, columns=courier.columns, title=name), content_type=XLSX)
    else:
        response = HttpResponse(manifest_csv(rows=rows, columns=courier.columns),
                                content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{format}"'
    response["Cache-Control"] = "no-store"
    return response
