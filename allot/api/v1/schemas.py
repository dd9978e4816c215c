"""Request and response shapes, and the functions that render domain objects into them. Input schemas
forbid unknown fields. Times are ISO 8601 in the campaign's zone (Asia/Shanghai: ``+08:00``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.urls import reverse
from ninja import Field, Schema
from pydantic import ConfigDict, WithJsonSchema

from allot.campaigns.models import Campaign
from allot.campaigns.selectors import OutletRow, Today
from allot.draws.models import Draw
from allot.pickup.models import PickupCode
from allot.places.models import Division
from allot.registrations.selectors import RegistrationStatus

from .reads import BUNDLE_FILES

MAX_TEXT = 200
# A wall-clock time in the campaign's zone, "HH:MM:SS" without offset. JSON Schema's "format: time" demands an
# offset (RFC 3339 full-time), which a daily local time has not: schemathesis found the mismatch.
LocalTime = Annotated[dt.time, WithJsonSchema({"type": "string", "pattern": r"^\d{2}:\d{2}:\d{2}(\.\d+)?$",
                                               "description": "Local time in the campaign's time zone, HH:MM:SS."})]


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


# --- campaigns and places -----------------------------------------------------------------------------

class DivisionOut(Schema):
    code: str
    name: str


class WindowOut(Schema):
    start: LocalTime
    end: LocalTime


class PickupWindowOut(WindowOut):
    day_offset: int = Field(description="Days after the draw date on which the pickup window opens.")


class CampaignOut(Schema):
    slug: str
    name: str
    good: str
    unit_label: str
    units_per_winner: int
    city: DivisionOut
    time_zone: str
    status: str
    starts_on: dt.date
    ends_on: dt.date | None
    draw_time: LocalTime
    pickup_window: PickupWindowOut
    maintenance_window: WindowOut | None = Field(
        description="Registration is closed in this daily window; an end of 00:00 means midnight.")
    cooldown_days: int
    rollover_losers: bool
    eligibility_lists: list[str] = Field(description="A resident must be on one of these (empty: anyone).")


class TodayOut(Schema):
    draw_date: dt.date = Field(description="The draw a registration made now enters.")
    draw_at: dt.datetime
    registered: int
    packs: int = Field(description="Winner packs released for this draw.")
    units: int


class CampaignDetailOut(CampaignOut):
    consent_version: str
    privacy_notice: str
    appeal_info: str
    rules_text: str
    in_maintenance: bool
    today: TodayOut


class OutletOut(Schema):
    code: str
    name: str
    address: str
    latitude: float
    longitude: float
    opening_hours: str
    packs: int
    units: int
    distance_m: int | None


def _maintenance(c: Campaign) -> dict[str, Any] | None:
    if c.maintenance_start is None or c.maintenance_end is None:
        return None
    return {"start": c.maintenance_start, "end": c.maintenance_end}


def campaign_out(c: Campaign) -> dict[str, Any]:
    return {
        "slug": c.slug, "name": c.name, "good": c.good, "unit_label": c.unit_label,
        "units_per_winner": c.units_per_winner, "city": {"code": c.city.code, "name": c.city.name},
        "time_zone": c.time_zone, "status": c.status, "starts_on": c.starts_on, "ends_on": c.ends_on,
        "draw_time": c.draw_time,
        "pickup_window": {"day_offset": c.pickup_day_offset, "start": c.pickup_start, "end": c.pickup_end},
        "maintenance_window": _maintenance(c),
        "cooldown_days": c.cooldown_days, "rollover_losers": c.rollover_losers,
        "eligibility_lists": [e.name for e in c.eligibility_lists.all()],
    }


def campaign_detail_out(c: Campaign, today: Today) -> dict[str, Any]:
    return {
        **campaign_out(c), "consent_version": c.consent_version, "privacy_notice": c.privacy_notice,
        "appeal_info": c.appeal_info, "rules_text": c.rules_text, "in_maintenance": today.in_maintenance,
        "today": {"draw_date": today.draw_date, "draw_at": today.draw_at.astimezone(c.tz),
                  "registered": today.registered, "packs": today.packs, "units": today.units},
    }


def division_out(d: Division) -> dict[str, Any]:
    return {"code": d.code, "name": d.name}


def outlet_out(row: OutletRow) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "address": row.address, "latitude": row.latitude,
            "longitude": row.longitude, "opening_hours": row.opening_hours, "packs": row.packs,
            "units": row.units, "distance_m": row.distance_m}


# --- registrations ------------------------------------------------------------------------------------

class RegistrationIn(StrictIn):
    """What the resident typed, as typed: the server normalises full-width digits, spaces and hyphens. Only the
    fields the campaign asks for are accepted: the health fields only when the campaign's ``ask_health`` is
    true (else 400 unexpected_field)."""

    name: str = Field(max_length=MAX_TEXT, examples=["张三"])
    id_number: str = Field(max_length=MAX_TEXT, examples=["350203199001010012"])
    phone: str = Field(max_length=MAX_TEXT, examples=["139 0000 0001"])
    district: str = Field(max_length=MAX_TEXT, description="6-digit district code", examples=["350203"])
    outlet: str | None = Field(None, max_length=MAX_TEXT, description="Outlet code; optional with accept_any")
    accept_any: bool = Field(False, description="Any outlet of the district will do (服从分配).")
    consent_id: bool = Field(description=(
        "The resident agreed, separately, to the use of their ID number (sensitive personal information, "
        "PIPL Art. 28-29) as the campaign's notice describes."))
    consent_health: bool | None = Field(None, description="Separate consent to the health declaration; only "
                                                           "when the campaign asks health questions.")
    health_returned: bool | None = Field(None, description="Came back to the city from elsewhere in the last "
                                                            "14 days (only when the campaign asks).")
    health_return_date: dt.date | None = Field(None, description="The day they came back, when health_returned.")
    health_symptoms: bool | None = Field(None, description="Fever or cough now (only when the campaign asks).")
    altcha: str = Field(max_length=4000, description=(
        "A solved proof-of-work challenge from GET /registrations/challenge?purpose=register (ALTCHA v2 "
        "payload, base64). Each challenge is accepted once."))


class RegistrationReceivedOut(Schema):
    """The answer to every registration attempt that passed the field checks, whatever it came to: the result
    (registration number, or why not) is sent by SMS."""

    received: bool
    campaign: str
    draw_date: dt.date
    draw_at: dt.datetime
    sms_to: str = Field(description="The phone typed, masked: where the confirmation of a new registration goes.")
    detail: str


class ChallengeOut(Schema):
    """An ALTCHA v2 challenge: find ``counter`` so that SHA-256(salt || nonce || uint32be(counter)) starts with
    ``parameters.keyPrefix``, then send base64(JSON {challenge, solution: {counter, derivedKey}})."""

    parameters: dict[str, Any]
    signature: str


class CodeIn(StrictIn):
    id_number: str = Field(max_length=MAX_TEXT)
    altcha: str = Field(max_length=4000, description="A solved challenge with purpose=status_code.")


class CodeSentOut(Schema):
    token: str = Field(description="Send it back with the code. Issued whether or not the ID number is on file.")
    expires_at: dt.datetime
    detail: str


class VerifyIn(StrictIn):
    token: str = Field(max_length=MAX_TEXT)
    code: str = Field(max_length=20, description="The 6 digits from the SMS")


class AccessIn(StrictIn):
    access_token: str = Field(max_length=1000)


class OutletRefOut(Schema):
    code: str
    name: str


class RegistrationCreatedOut(Schema):
    number: str
    campaign: str
    draw_date: dt.date
    draw_at: dt.datetime
    status: str
    district: DivisionOut
    outlet: OutletRefOut | None
    accept_any: bool
    name_masked: str
    id_masked: str
    phone_masked: str


class PickupOut(Schema):
    code: str
    code_grouped: str
    outlet: OutletRefOut
    outlet_address: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    redeemed_at: dt.datetime | None


class RolledOverOut(Schema):
    number: str
    draw_date: dt.date


class ConsentOut(Schema):
    kind: str = Field(description="id_number | health")
    version: str
    at: dt.datetime


class HealthOut(Schema):
    returned: bool
    return_date: dt.date | None
    symptoms: bool


class RegistrationStatusOut(RegistrationCreatedOut):
    campaign_name: str
    status_label: str
    weight: int
    created_at: dt.datetime
    channel: str
    consents: list[ConsentOut]
    health: HealthOut | None = Field(description="The resident's own health declaration, when one was asked.")
    can_withdraw: bool
    pickup: PickupOut | None = Field(description="Present when the registration won.")
    rolled_over_to: RolledOverOut | None = Field(description="The next draw's registration, when not drawn.")
    draw_id: str | None = Field(description="The published draw this registration took part in.")


def _local(moment: dt.datetime | None, c: Campaign) -> dt.datetime | None:
    return moment.astimezone(c.tz) if moment is not None else None


def registration_created_out(s: RegistrationStatus, c: Campaign) -> dict[str, Any]:
    return {
        "number": s.number, "campaign": s.campaign_slug, "draw_date": s.draw_date,
        "draw_at": _local(s.draw_at, c), "status": s.status,
        "district": {"code": s.district_code, "name": s.district_name},
        "outlet": {"code": s.outlet_code, "name": s.outlet_name or ""} if s.outlet_code else None,
        "accept_any": s.accept_any, "name_masked": s.name_masked, "id_masked": s.id_masked,
        "phone_masked": s.phone_masked,
    }


def registration_status_out(s: RegistrationStatus, c: Campaign) -> dict[str, Any]:
    pickup = None
    if s.pickup_code and s.pickup_outlet_code:
        pickup = {"code": s.pickup_code, "code_grouped": s.pickup_code_grouped or s.pickup_code,
                  "outlet": {"code": s.pickup_outlet_code, "name": s.pickup_outlet_name or ""},
                  "outlet_address": s.pickup_outlet_address or "", "valid_from": _local(s.pickup_from, c),
                  "valid_until": _local(s.pickup_until, c), "redeemed_at": _local(s.redeemed_at, c)}
    rolled = ({"number": s.rolled_over_to_number, "draw_date": s.rolled_over_to_date}
              if s.rolled_over_to_number and s.rolled_over_to_date else None)
    return {
        **registration_created_out(s, c), "campaign_name": s.campaign_name, "status_label": s.status_label,
        "weight": s.weight, "created_at": _local(s.created_at, c), "pickup": pickup, "rolled_over_to": rolled,
        "draw_id": s.draw_id, "channel": s.channel, "can_withdraw": s.can_withdraw,
        "consents": [{"kind": k.kind, "version": k.version, "at": _local(k.at, c)} for k in s.consents],
        "health": ({"returned": s.health.returned, "return_date": s.health.return_date,
                    "symptoms": s.health.symptoms} if s.health else None),
    }


class MyRegistrationOut(Schema):
    """After a correct one-time code: the resident's own record in this campaign (or none), and a token valid
    for 15 minutes that lets them withdraw it."""

    access_token: str
    registration: RegistrationStatusOut | None


# --- staff tokens and pickup --------------------------------------------------------------------------

class TokenIn(StrictIn):
    username: str = Field(max_length=MAX_TEXT)
    password: str = Field(max_length=MAX_TEXT)


class TokenOut(Schema):
    token: str
    token_type: str = "Bearer"  # noqa: S105 (the scheme name)
    expires_at: dt.datetime
    role: str
    outlet: str | None = Field(description="The clerk's outlet code.")


class RedeemIn(StrictIn):
    code: str = Field(max_length=MAX_TEXT, description="Pickup code as typed or scanned (hyphens ignored)")
    nonce: str | None = Field(None, max_length=64, description=(
        "Client nonce: a retry with the same nonce returns the earlier success. Defaults to the "
        "Idempotency-Key header."))


class RedeemOut(Schema):
    code: str
    number: str = Field(description="The winner's registration number.")
    outlet: OutletRefOut
    redeemed_at: dt.datetime
    good: str
    units: int
    unit_label: str


def redeem_out(pc: PickupCode) -> dict[str, Any]:
    reg = pc.registration
    c = reg.campaign
    assert pc.redeemed_at is not None
    return {"code": pc.code, "number": reg.number, "outlet": {"code": pc.outlet.code, "name": pc.outlet.name},
            "redeemed_at": pc.redeemed_at.astimezone(c.tz), "good": c.good, "units": c.units_per_winner,
            "unit_label": c.unit_label}


# --- draws --------------------------------------------------------------------------------------------

class DrawFileOut(Schema):
    name: str
    sha256: str
    content_type: str
    url: str = Field(description="Path of the raw file under this API.")


class BeaconOut(Schema):
    kind: str
    round: int
    time: dt.datetime


class DrawOut(Schema):
    draw_id: str
    campaign: str
    campaign_name: str
    draw_date: dt.date
    state: str = Field(description="committed (entries frozen, waiting for randomness) or published")
    entries: int
    winners: int | None = Field(description="Null until published.")
    merkle_root: str
    manifest_hash: str
    beacon: BeaconOut
    committed_at: dt.datetime
    published_at: dt.datetime | None
    verified: bool = Field(description="The server re-ran the independent verifier on the published bundle.")
    verified_at: dt.datetime | None
    verify_summary: str
    bundle_url: str = Field(description="Path of the bundle zip on the public site.")
    files: list[DrawFileOut]


class DrawPageOut(Schema):
    count: int = Field(description="Number of draws matching, over all pages.")
    items: list[DrawOut]


def draw_out(d: Draw) -> dict[str, Any]:
    c = d.round.campaign
    order = list(BUNDLE_FILES)
    files = sorted(d.files.all(), key=lambda f: order.index(f.name) if f.name in order else len(order))
    published = d.state == Draw.State.PUBLISHED
    return {
        "draw_id": d.draw_id, "campaign": c.slug, "campaign_name": c.name, "draw_date": d.round.draw_date,
        "state": d.state, "entries": d.entries, "winners": d.winners if published else None,
        "merkle_root": d.merkle_root, "manifest_hash": d.manifest_hash,
        "beacon": {"kind": d.beacon_kind, "round": d.beacon_round, "time": _local(d.beacon_time, c)},
        "committed_at": _local(d.committed_at, c), "published_at": _local(d.published_at, c),
        "verified": d.verified_at is not None, "verified_at": _local(d.verified_at, c),
        "verify_summary": d.verify_summary, "bundle_url": f"/draws/{d.draw_id}.zip",
        "files": [{"name": f.name, "sha256": f.sha256,
                   "content_type": BUNDLE_FILES.get(f.name, "application/octet-stream"),
                   "url": reverse("api-v1:draw_file", kwargs={"draw_id": d.draw_id, "name": f.name})}
                  for f in files],
    }
