"""/api/v1 for first-come campaigns: claim today's unit, the units left, the resident's own claim.

The claim operation is behind ``allot.core.admission`` (the WSGI wrapper and the middleware): past the in-flight
cap it answers 503 ``busy`` with ``Retry-After`` and, where the waiting room is on (``allot.core.waitroom``), a
signed ticket with the resident's position, sent back in ``Allot-Queue-Token``; once sold out, 409 ``sold_out``
from the cached flag; before the opening, 409 ``not_open_yet`` — all before this code runs. What reaches it
carries a solved proof of work and is counted against the claim rate limits
(``allot.firstcome.resident.claim_submit``).

A resident sees their own claim with a one-time code sent to the phone on file (``/claims/lookup``, then
``/claims/lookup/verify``); the answer to the first step is the same whether or not the ID number has a claim.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from allot.campaigns.models import Campaign
from allot.firstcome import selectors
from allot.firstcome.models import Claim
from allot.firstcome.resident import claim_code_send, claim_code_verify, claim_submit
from allot.firstcome.selectors import ClaimStatus
from allot.firstcome.services import ClaimRequest
from allot.verification.ratelimit import Client

from .errors import ErrorsOut
from .schemas import CodeSentOut

claims = Router(tags=["first come"])  # mounted at /api/v1/

T = 100
CODE_SENT = _("If this ID number is on file, a 6-digit code has been sent by SMS to the phone on file for it. "
              "It is valid for 10 minutes.")


def _client(request: HttpRequest) -> Client:
    """API clients have no session: limits key on the address (REMOTE_ADDR: behind a proxy, the proxy must set it
    from the client's address), the phone and the ID number."""
    return Client(ip=str(request.META.get("REMOTE_ADDR") or ""))


class ClaimIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=T)
    id_number: str = Field(max_length=40)
    phone: str = Field(max_length=40)
    district: str = Field("", max_length=40, description="Delivery: the address district (code or name). "
                          "District quota: the district code.")
    outlet: str = Field("", max_length=40, description="Outlet quota: the outlet code.")
    street: str = Field("", max_length=T, description="Delivery: street (街道/镇) code or name from the list.")
    committee: str = Field("", max_length=T, description="Delivery: community (社区/村) code or name.")
    building: str = Field("", max_length=40)
    unit: str = Field("", max_length=20)
    room: str = Field("", max_length=20)
    line: str = Field("", max_length=T, description="Delivery: free text for what the fields above cannot say.")
    consent: bool = False
    altcha: str = Field("", max_length=4000, description=(
        "A solved proof-of-work challenge from GET /registrations/challenge?purpose=claim (ALTCHA v2 payload, "
        "base64). Each challenge is accepted once; a claim without one is refused with 400 altcha_required."))


class ClaimCodeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    campaign: str = Field(max_length=40, description="The first-come campaign's slug.")
    id_number: str = Field(max_length=40)
    altcha: str = Field(max_length=4000, description=(
        "A solved challenge from GET /registrations/challenge?purpose=status_code."))


class ClaimVerifyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    campaign: str = Field(max_length=40, description="The same campaign as in the first step.")
    token: str = Field(max_length=100, description="The token of the first step's answer.")
    code: str = Field(max_length=20, description="The 6 digits from the SMS.")


class ParcelEventOut(Schema):
    status: str
    status_label: str
    at: dt.datetime
    note: str


class ParcelOut(Schema):
    number: str
    status: str
    status_label: str
    status_at: dt.datetime | None
    address: str
    courier: str
    events: list[ParcelEventOut]


class ClaimOut(Schema):
    number: str
    campaign: str
    day: dt.date
    good: str
    units: int
    unit_label: str
    area: str
    name_masked: str
    id_masked: str
    phone_masked: str
    created_at: dt.datetime
    parcel: ParcelOut | None


class MyClaimOut(Schema):
    claim: ClaimOut | None = Field(description="The resident's latest claim in the campaign; null if none.")


class RemainingOut(Schema):
    day: dt.date
    state: str = Field(description="before_open | open | sold_out | maintenance | closed")
    opens_at: dt.datetime
    next_opens_at: dt.datetime
    units: int
    left: int
    by_area: dict[str, int]


def _local(t: dt.datetime | None, c: Campaign) -> dt.datetime | None:
    return t.astimezone(c.tz) if t is not None else None


def claim_out(s: ClaimStatus, c: Campaign) -> dict[str, Any]:
    parcel = None
    if s.delivery:
        parcel = {"number": s.parcel_number, "status": s.parcel_status, "status_label": s.parcel_status_label,
                  "status_at": _local(s.parcel_status_at, c), "address": s.address, "courier": s.courier,
                  "events": [{"status": e.status, "status_label": e.status_label, "at": _local(e.at, c),
                              "note": e.note} for e in s.events]}
    return {"number": s.number, "campaign": s.campaign_slug, "day": s.day, "good": s.good, "units": s.units,
            "unit_label": s.unit_label, "area": s.area, "name_masked": s.name_masked, "id_masked": s.id_masked,
            "phone_masked": s.phone_masked, "created_at": _local(s.created_at, c), "parcel": parcel}


class ParcelCreatedOut(Schema):
    number: str
    status: str


class ClaimCreatedOut(Schema):
    number: str
    campaign: str
    day: dt.date
    good: str
    units: int
    unit_label: str
    created_at: dt.datetime
    parcel: ParcelCreatedOut | None


def claim_created_out(claim: Claim, c: Campaign) -> dict[str, Any]:
    """From the objects the claim was just written with: no query on the hot path."""
    parcel = getattr(claim, "parcel", None) if c.fulfilment == Campaign.Fulfilment.DELIVERY else None
    return {"number": claim.number, "campaign": c.slug, "day": claim.day, "good": c.good, "units": claim.units,
            "unit_label": c.unit_label, "created_at": _local(claim.created_at, c),
            "parcel": {"number": parcel.number, "status": parcel.status} if parcel is not None else None}


@claims.post("/campaigns/{slug}/claims",
             response={201: ClaimCreatedOut, 400: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut, 409: ErrorsOut,
                       429: ErrorsOut, 503: ErrorsOut},
             url_name="claim_create", summary="Claim today's unit (first come, first served)",
             description=(
                 "201: accepted and stored. 400: field errors (name_*, id_number_*, phone_*, consent_required, "
                 "district_invalid, outlet_invalid, address_district_required, address_district_unknown, "
                 "address_district_outside, address_retired_district, address_street_required, "
                 "address_street_unknown, address_street_mismatch, address_committee_required, "
                 "address_committee_unknown, address_committee_mismatch, address_building_required, "
                 "address_building_invalid, address_unit_invalid, address_room_invalid, address_line_too_long, "
                 "missing, unexpected_field), altcha_required, altcha_invalid, altcha_expired, altcha_replayed "
                 "(a proof of work with purpose=claim is needed for each claim). 403: not_eligible. "
                 "404: campaign_not_found. 409: sold_out, already_claimed, not_open_yet, campaign_closed, "
                 "no_quota. 429: rate_limited (per client address, phone and ID number). 503: busy "
                 "(Retry-After), temporarily_unavailable, maintenance, rate_limit_unavailable. "
                 "Waiting room: when a busy answer gives a place in line, its body also holds "
                 "queue {token, position, retry_after, wait_ms} and its headers Allot-Queue-Token and "
                 "Allot-Queue-Wait-Ms; come back after wait_ms milliseconds (or Retry-After seconds) with the "
                 "same body and the request header Allot-Queue-Token: <token> to keep the place. A token is "
                 "good for one admission and a few minutes; a missing or stale one only means a new place."))
def claim_create_op(request: HttpRequest, slug: str, payload: ClaimIn) -> Status:
    return Status(201, claim_api_submit(slug=slug, fields=payload.model_dump(), client=_client(request)))


def claim_api_submit(*, slug: str, fields: dict[str, Any], client: Client) -> dict[str, Any]:
    """The claim operation once its body is valid (``fields``: a ``ClaimIn`` dumped): the 201 body, or the
    ``DomainError`` of the refusal. Shared by the operation above and the fast lane in front of Django
    (``allot.api.v1.claim_fast``), so both decide and answer alike."""
    cc = selectors.claim_campaign(slug=slug)
    proof = fields.pop("altcha")
    claim = claim_submit(campaign=cc.campaign, channel=Claim.Channel.API, list_ids=cc.list_ids, proof=proof,
                         client=client, request=ClaimRequest(**fields))
    return claim_created_out(claim, cc.campaign)


@claims.get("/campaigns/{slug}/claims/remaining", response={200: RemainingOut, 404: ErrorsOut},
            url_name="claim_remaining", summary="Units left today, per area", description="Cacheable for 2 seconds.")
def claim_remaining_op(request: HttpRequest, slug: str, response: HttpResponse) -> dict[str, Any]:
    campaign = selectors.claim_campaign(slug=slug).campaign
    response["Cache-Control"] = f"public, max-age={selectors.REMAINING_MAX_AGE}"   # the same figures for everyone
    w = selectors.window(campaign)
    r = selectors.remaining(campaign=campaign, day=w.day)
    state = "sold_out" if w.state == "open" and r.units > 0 and r.left == 0 else w.state
    return {"day": w.day, "state": state, "opens_at": w.opens.astimezone(campaign.tz),
            "next_opens_at": w.next_opens.astimezone(campaign.tz), "units": r.units, "left": r.left,
            "by_area": r.by_scope}


@claims.post("/claims/lookup", response={202: CodeSentOut, 400: ErrorsOut, 404: ErrorsOut, 429: ErrorsOut,
                                         503: ErrorsOut},
             url_name="claim_lookup", summary="Send a one-time code to see one's own claim",
             description=(
                 "Step 1 of 2. Sends a 6-digit code by SMS to the phone on file for the ID number (the phone given "
                 "with its latest claim or registration). The same answer, in the same time, whether the ID "
                 "number has a claim, is on file without one, or is unknown: nothing about a claim is told "
                 "before the code. Then POST /claims/lookup/verify. (This operation used to take a claim "
                 "number and an ID number and return the claim: that told anyone holding the pair whether it "
                 "matched, and is gone.) 400: id_number_*, altcha_*, missing, unexpected_field. "
                 "404: campaign_not_found. 429: rate_limited. 503: rate_limit_unavailable."))
def claim_lookup_op(request: HttpRequest, payload: ClaimCodeIn) -> Status:
    campaign = selectors.claim_campaign(slug=payload.campaign).campaign
    sent = claim_code_send(campaign=campaign, id_number=payload.id_number, proof=payload.altcha,
                           client=_client(request))
    return Status(202, {"token": sent.token, "expires_at": sent.expires_at.astimezone(campaign.tz),
                        "detail": str(CODE_SENT)})


@claims.post("/claims/lookup/verify", response={200: MyClaimOut, 400: ErrorsOut, 404: ErrorsOut, 429: ErrorsOut,
                                                503: ErrorsOut},
             url_name="claim_lookup_verify", summary="The resident's own claim and its parcel, after the code",
             description=(
                 "Step 2 of 2: the token from POST /claims/lookup and the code from the SMS. 200 with the "
                 "latest claim of the person in the campaign, or claim: null. 400: code_invalid (5 tries per "
                 "code), code_expired, missing, unexpected_field. 404: campaign_not_found. "
                 "429: code_attempts_exceeded, rate_limited. 503: rate_limit_unavailable."))
def claim_lookup_verify_op(request: HttpRequest, payload: ClaimVerifyIn) -> dict[str, Any]:
    campaign = selectors.claim_campaign(slug=payload.campaign).campaign
    own = claim_code_verify(campaign=campaign, token=payload.token, code=payload.code, client=_client(request))
    if own.claim is None:
        return {"claim": None}
    full = selectors.claim_for_status(pk=own.claim.pk)
    return {"claim": claim_out(selectors.claim_status(claim=full), campaign)}
