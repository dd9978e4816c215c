"""The operations of /api/v1. Each one parses its input, checks permission, calls one service or selector and
renders the result; errors are raised as ``DomainError`` and rendered by ``errors.py``."""

from __future__ import annotations

from typing import Any, Literal

from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Header, Query, Router, Status
from ninja.throttling import AnonRateThrottle

from allot.core.errors import DomainError, FieldError, NotFound, ValidationFailed
from allot.pickup.services import pickup_redeem
from allot.registrations.models import Registration
from allot.registrations.selectors import registration_for_status, registration_latest_of, registration_status
from allot.registrations.services import (
    HealthAnswers,
    RegistrationRequest,
    registration_submit,
    registration_withdraw,
    status_code_send,
    status_code_verify,
)
from allot.verification.proof import challenge_create
from allot.verification.ratelimit import Client

from . import reads
from .auth import StaffToken, token_issue
from .errors import ErrorsOut
from .idempotency import idempotent
from .schemas import (
    AccessIn,
    CampaignDetailOut,
    CampaignOut,
    ChallengeOut,
    CodeIn,
    CodeSentOut,
    DivisionOut,
    DrawOut,
    DrawPageOut,
    MyRegistrationOut,
    OutletOut,
    RedeemIn,
    RedeemOut,
    RegistrationIn,
    RegistrationReceivedOut,
    RegistrationStatusOut,
    TokenIn,
    TokenOut,
    VerifyIn,
    campaign_detail_out,
    campaign_out,
    division_out,
    draw_out,
    outlet_out,
    redeem_out,
    registration_status_out,
)

IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key", max_length=64, description=(
    "A client-chosen key (at most 64 characters) that makes a retry safe: the same key and body return "
    "the first response for 24 hours."))


class _ClientAddressThrottle(AnonRateThrottle):
    """Keyed by the client address. ninja trusts any X-Forwarded-For unless NINJA_NUM_PROXIES is set, which
    would let a client pick a fresh address per request; without the setting we use REMOTE_ADDR only. Behind a
    reverse proxy, set NINJA_NUM_PROXIES to the number of proxies."""

    def get_ident(self, request: HttpRequest) -> str | None:
        from ninja.conf import settings as ninja_settings

        if ninja_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR")
        return super().get_ident(request)


class LoginThrottle(_ClientAddressThrottle):
    """Brute-force brake on staff passwords."""

    scope = "allot_api_login"


LOGIN_THROTTLE = LoginThrottle("10/m")

campaigns = Router(tags=["campaigns"])
registrations = Router(tags=["registrations"])
staff = Router(tags=["staff"])
draws = Router(tags=["draws"])


# --- campaigns ----------------------------------------------------------------------------------------

@campaigns.get("", response={200: list[CampaignOut]}, url_name="campaign_list",
               summary="Active campaigns")
def campaign_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [campaign_out(c) for c in reads.campaigns_listed()]


@campaigns.get("/{slug}", response={200: CampaignDetailOut, 404: ErrorsOut}, url_name="campaign_detail",
               summary="A campaign with the numbers of the draw a registration made now enters")
def campaign_detail(request: HttpRequest, slug: str) -> dict[str, Any]:
    campaign = reads.campaign_public(slug=slug)
    return campaign_detail_out(campaign, reads.campaign_today(campaign=campaign))


@campaigns.get("/{slug}/districts", response={200: list[DivisionOut], 404: ErrorsOut},
               url_name="campaign_districts", summary="Districts of the campaign's city")
def campaign_districts(request: HttpRequest, slug: str) -> list[dict[str, Any]]:
    from allot.places.selectors import districts_of

    campaign = reads.campaign_public(slug=slug)
    return [division_out(d) for d in districts_of(city_code=campaign.city_id)]


@campaigns.get("/{slug}/districts/{code}/outlets",
               response={200: list[OutletOut], 400: ErrorsOut, 404: ErrorsOut}, url_name="district_outlets",
               summary="Open outlets of a district with the current draw's stock; nearest first with lat/lng",
               description="404: campaign_not_found, district_not_found. 400: lat/lng invalid or alone.")
def district_outlets(request: HttpRequest, slug: str, code: str,
                     lat: float | None = Query(None, ge=-90, le=90),
                     lng: float | None = Query(None, ge=-180, le=180)) -> list[dict[str, Any]]:
    if (lat is None) != (lng is None):
        raise ValidationFailed([FieldError(field="lng" if lng is None else "lat", code="missing",
                                           message=_("Give both lat and lng, or neither."))])
    campaign = reads.campaign_public(slug=slug)
    rows = reads.campaign_outlets(campaign=campaign, district_code=code, lat=lat, lng=lng)
    return [outlet_out(row) for row in rows]


def _client(request: HttpRequest) -> Client:
    """API clients have no session: limits key on the address (loosely), the ID number and the phone."""
    return Client(ip=str(request.META.get("REMOTE_ADDR") or ""))


RECEIVED = _("We have received your registration. The result, with your registration number if you are "
             "registered, is sent by SMS; if this ID number already has a phone on file, to that phone.")


@campaigns.post("/{slug}/registrations",
                response={202: RegistrationReceivedOut, 400: ErrorsOut, 404: ErrorsOut, 409: ErrorsOut,
                          429: ErrorsOut, 503: ErrorsOut},
                url_name="registration_create", tags=["registrations"],
                summary="Register a resident for the next draw (the outcome is sent by SMS)",
                description=(
                    "Every attempt that passes the field checks gets the same 202 body: whether the ID number "
                    "was new, already registered, in its cooldown or not eligible is sent by SMS (to the phone "
                    "on file, or the phone typed), never told in the response. "
                    "400: field errors (name_*, id_number_*, phone_*, district_invalid, outlet_invalid, "
                    "outlet_closed, outlet_required, consent_id_required, consent_health_required, "
                    "health_returned_required, health_return_date_required, health_return_date_invalid, "
                    "health_symptoms_required, missing, unexpected_field, invalid), altcha_required, "
                    "altcha_invalid, altcha_expired, altcha_replayed. 404: campaign_not_found. "
                    "409: campaign_closed, round_closed, idempotency_key_reused, idempotency_key_in_progress. "
                    "429: rate_limited. 503: maintenance, rate_limit_unavailable."))
def registration_create_op(request: HttpRequest, slug: str, payload: RegistrationIn,
                           idempotency_key: str | None = IDEMPOTENCY_KEY) -> Status:
    campaign = reads.campaign_public(slug=slug)
    health_sent = any(v is not None for v in (payload.health_returned, payload.health_return_date,
                                               payload.health_symptoms))
    health = HealthAnswers(returned=payload.health_returned, symptoms=payload.health_symptoms,
                           return_date=payload.health_return_date.isoformat() if payload.health_return_date
                           else "") if health_sent else None
    typed = RegistrationRequest(name=payload.name, id_number=payload.id_number, phone=payload.phone,
                                district=payload.district, outlet=payload.outlet or "",
                                accept_any=payload.accept_any, consent_id=payload.consent_id,
                                consent_health=bool(payload.consent_health), health=health)

    def run() -> tuple[str, dict[str, Any]]:
        receipt = registration_submit(campaign=campaign, request=typed, proof=payload.altcha,
                                      client=_client(request), channel=Registration.Channel.API)
        return "", {"received": True, "campaign": receipt.campaign_slug, "draw_date": receipt.draw_date,
                    "draw_at": receipt.draw_at.astimezone(campaign.tz), "sms_to": receipt.phone_masked,
                    "detail": str(RECEIVED)}

    body = payload.model_dump(mode="json", exclude={"altcha"})
    return Status(202, idempotent(scope=campaign.slug, key=idempotency_key, body=body, run=run))


# --- registrations: proof of work, one-time code, the resident's own record ---------------------------

@registrations.get("/challenge", response={200: ChallengeOut, 400: ErrorsOut}, url_name="challenge",
                   summary="A proof-of-work challenge (ALTCHA v2) for registering, claiming or asking for a code")
def challenge_op(request: HttpRequest,
                 purpose: Literal["register", "status_code", "claim"] = Query("register")) -> dict[str, Any]:
    return challenge_create(purpose=purpose)


CODE_SENT = _("If this ID number is on file, a 6-digit code has been sent by SMS to the phone on file for it. "
              "It is valid for 10 minutes.")
ACCESS_SALT = "allot.api.resident"
ACCESS_SECONDS = 15 * 60


@campaigns.post("/{slug}/status/code", response={202: CodeSentOut, 400: ErrorsOut, 404: ErrorsOut,
                                                 429: ErrorsOut, 503: ErrorsOut},
                url_name="status_code_send", tags=["registrations"],
                summary="Send a one-time code to the phone on file for an ID number",
                description=("The same answer, in the same time, whether or not the ID number is on file. "
                             "400: id_number_*, altcha_*, missing, unexpected_field. 404: campaign_not_found. "
                             "429: rate_limited. 503: rate_limit_unavailable."))
def status_code_send_op(request: HttpRequest, slug: str, payload: CodeIn) -> Status:
    campaign = reads.campaign_public(slug=slug)
    sent = status_code_send(campaign=campaign, id_number=payload.id_number, proof=payload.altcha,
                            client=_client(request))
    return Status(202, {"token": sent.token, "expires_at": sent.expires_at.astimezone(campaign.tz),
                        "detail": str(CODE_SENT)})


@campaigns.post("/{slug}/status/verify", response={200: MyRegistrationOut, 400: ErrorsOut, 404: ErrorsOut,
                                                   429: ErrorsOut, 503: ErrorsOut},
                url_name="status_code_verify", tags=["registrations"],
                summary="The resident's own registration, after the one-time code",
                description=("400: code_invalid, code_expired, missing. 429: code_attempts_exceeded (5 tries per "
                             "code), rate_limited. 404: campaign_not_found."))
def status_code_verify_op(request: HttpRequest, slug: str, payload: VerifyIn) -> dict[str, Any]:
    campaign = reads.campaign_public(slug=slug)
    own = status_code_verify(campaign=campaign, token=payload.token, code=payload.code, client=_client(request))
    reg = own.registration
    token = signing.dumps({"p": own.person.pk, "c": campaign.slug}, salt=ACCESS_SALT)
    out = (registration_status_out(registration_status(registration=registration_for_status(pk=reg.pk)), campaign)
           if reg is not None else None)
    return {"access_token": token, "registration": out}


@campaigns.post("/{slug}/status/withdraw", response={200: RegistrationStatusOut, 401: ErrorsOut, 404: ErrorsOut,
                                                     409: ErrorsOut},
                url_name="status_withdraw", tags=["registrations"],
                summary="Withdraw the resident's own registration before the draw",
                description="401: access_token_invalid (expired after 15 minutes). 404: registration_not_found. "
                            "409: cannot_withdraw.")
def status_withdraw_op(request: HttpRequest, slug: str, payload: AccessIn) -> dict[str, Any]:
    campaign = reads.campaign_public(slug=slug)
    try:
        data = signing.loads(payload.access_token, salt=ACCESS_SALT, max_age=ACCESS_SECONDS)
    except signing.BadSignature:
        raise DomainError(_("Your access has expired. Ask for a new one-time code."), code="access_token_invalid",
                          status=401) from None
    if data.get("c") != campaign.slug:
        raise DomainError(_("Your access has expired. Ask for a new one-time code."), code="access_token_invalid",
                          status=401)
    reg = registration_latest_of(campaign=campaign, person_pk=int(data.get("p") or 0))
    if reg is None:
        raise NotFound(_("You have no registration in this campaign."), code="registration_not_found")
    withdrawn = registration_withdraw(registration=reg)
    return registration_status_out(registration_status(registration=registration_for_status(pk=withdrawn.pk)),
                                   campaign)


# --- staff --------------------------------------------------------------------------------------------

@staff.post("/auth/token", response={200: TokenOut, 400: ErrorsOut, 401: ErrorsOut, 429: ErrorsOut},
            url_name="token_issue", throttle=[LOGIN_THROTTLE], summary="A bearer token for a staff account",
            description="Valid for 12 hours; changing the password invalidates it. 401: invalid_credentials.")
def token_issue_op(request: HttpRequest, payload: TokenIn) -> dict[str, Any]:
    issued = token_issue(request=request, username=payload.username, password=payload.password)
    profile = issued.user.staff  # type: ignore[attr-defined]
    return {"token": issued.token, "expires_at": issued.expires_at, "role": profile.role,
            "outlet": profile.outlet.code if profile.outlet_id else None}


@staff.post("/pickup/redeem", auth=StaffToken(),
            response={200: RedeemOut, 400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut,
                      409: ErrorsOut},
            url_name="pickup_redeem", summary="Redeem a pickup code at the clerk's outlet",
            description=("400: code_required. 401: unauthenticated. 403: not_a_clerk. 404: code_unknown. "
                         "409: wrong_outlet, already_redeemed, not_yet_valid, expired. A retry with the same "
                         "nonce (or Idempotency-Key) returns the first success."))
def pickup_redeem_op(request: HttpRequest, payload: RedeemIn,
                     idempotency_key: str | None = IDEMPOTENCY_KEY) -> dict[str, Any]:
    clerk: AbstractBaseUser = request.auth  # type: ignore[attr-defined]  # set by StaffToken
    pc = pickup_redeem(code=payload.code, clerk=clerk, nonce=payload.nonce or idempotency_key or "")
    return redeem_out(pc)


# --- draws --------------------------------------------------------------------------------------------

@draws.get("", response={200: DrawPageOut, 400: ErrorsOut}, url_name="draw_list",
           summary="Committed and published draws, newest first")
def draw_list(request: HttpRequest,
              campaign: str | None = Query(None, max_length=40, description="Campaign slug"),
              limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    qs = reads.draws_public(campaign_slug=campaign)
    return {"count": qs.count(), "items": [draw_out(d) for d in qs[offset:offset + limit]]}


@draws.get("/{draw_id}", response={200: DrawOut, 404: ErrorsOut}, url_name="draw_detail", summary="One draw")
def draw_detail(request: HttpRequest, draw_id: str) -> dict[str, Any]:
    return draw_out(reads.draw_public(draw_id=draw_id))


@draws.get("/{draw_id}/files/{name}", response={404: ErrorsOut}, url_name="draw_file",
           summary="A raw file of the draw's bundle, byte for byte",
           description="404: draw_not_found, file_not_found.",
           openapi_extra={"responses": {"200": {"description": "The file", "content": {
               ct.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
               for ct in reads.BUNDLE_FILES.values()}}}})
def draw_file(request: HttpRequest, draw_id: str, name: str) -> HttpResponse:
    f = reads.draw_file(draw_id=draw_id, name=name)
    response = HttpResponse(bytes(f.content), content_type=reads.BUNDLE_FILES[f.name])
    response["ETag"] = f'"{f.sha256}"'
    response["Cache-Control"] = "public, max-age=300"
    return response

