"""Resident pages and public draw pages. Each view parses its input, calls one service or selector and
renders; the rules live in the domain apps."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import segno
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from allot.campaigns import selectors as campaign_selectors
from allot.campaigns.models import Campaign
from allot.core.codes import group
from allot.core.errors import DomainError, NotFound
from allot.draws import selectors as draw_pages
from allot.draws.models import Draw
from allot.places.models import Division
from allot.places.selectors import districts_of, outlets_of_district
from allot.portal.forms import CodeForm, RegistrationForm, StatusLookupForm
from allot.registrations import selectors as registration_selectors
from allot.registrations.models import Registration
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

SESSION_KEY = "portal_registration_pk"
RECEIPT_KEY = "portal_receipt"
CODE_KEY = "portal_code"
PUBLIC_FILE_CACHE = "public, max-age=300"


# --- helpers --------------------------------------------------------------------------------------------

def _campaign(slug: str) -> Campaign:
    """A public (non-draft) campaign by slug, or 404."""
    try:
        return campaign_selectors.campaign_public(slug=slug)
    except NotFound:
        raise Http404(slug) from None


def _district(campaign: Campaign, code: str) -> Division | None:
    return districts_of(city_code=campaign.city_id).filter(code=code).first()


def _hhmm(t: dt.time | None, *, end: bool = False) -> str:
    """``22:00``; an end time of 00:00 means midnight at the end of the day and reads ``24:00``."""
    if t is None:
        return ""
    if end and t == dt.time(0, 0):
        return "24:00"
    return t.strftime("%H:%M")


def _render(request: HttpRequest, campaign: Campaign | None, template: str, context: dict[str, Any],
            status: int = 200) -> HttpResponse:
    """Render with times shown in the campaign's zone."""
    if campaign is None:
        return render(request, template, context, status=status)
    with timezone.override(campaign.tz):
        return render(request, template, {"campaign": campaign, **context}, status=status)


def _remember(request: HttpRequest, registration: Registration) -> None:
    """The session, not the URL, says which registration this browser may see."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = registration.pk


def _remembered(request: HttpRequest, campaign: Campaign) -> Registration | None:
    pk = request.session.get(SESSION_KEY)
    if not isinstance(pk, int):
        return None
    try:
        reg = registration_selectors.registration_for_status(pk=pk)
    except Registration.DoesNotExist:
        return None
    return reg if reg.campaign_id == campaign.pk else None


# --- resident pages -------------------------------------------------------------------------------------

@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/campaign_list.html", {"campaigns": list(campaign_selectors.campaigns_active())})


@require_GET
def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _campaign(slug)
    if campaign.mode == Campaign.Mode.FIRST_COME:  # Hangzhou's model has its own page (countdown, quota left)
        return redirect("portal:fc_claim", slug=campaign.slug)
    round_ = campaign_selectors.round_current(campaign)
    numbers = campaign_selectors.round_numbers(round_=round_)
    draw_date = numbers.draw_date or campaign_selectors.draw_date_for(campaign)
    return _render(request, campaign, "portal/campaign_detail.html", {
        "numbers": numbers,
        "units": numbers.packs * campaign.units_per_winner,
        "draw_at": campaign_selectors.at_local(campaign, draw_date, campaign.draw_time),
        "draw_time": _hhmm(campaign.draw_time),
        "pickup_start": _hhmm(campaign.pickup_start),
        "pickup_end": _hhmm(campaign.pickup_end, end=True),
        "maintenance_start": _hhmm(campaign.maintenance_start),
        "maintenance_end": _hhmm(campaign.maintenance_end, end=True),
        "in_maintenance": campaign_selectors.in_maintenance(campaign),
        "eligibility_lists": list(campaign.eligibility_lists.values_list("name", flat=True)),
        "open": campaign.status == Campaign.Status.ACTIVE,
    })


@require_GET
def district_list(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _campaign(slug)
    return _render(request, campaign, "portal/district_list.html",
                   {"districts": list(districts_of(city_code=campaign.city_id))})


@require_GET
def outlet_list(request: HttpRequest, slug: str, district_code: str) -> HttpResponse:
    campaign = _campaign(slug)
    district = _district(campaign, district_code)
    if district is None:
        raise Http404
    round_ = campaign_selectors.round_current(campaign)
    rows = campaign_selectors.outlets_with_stock(campaign=campaign, district_code=district.code, round_=round_)
    register_url = reverse("portal:register", args=[campaign.slug])
    return _render(request, campaign, "portal/outlet_list.html", {
        "district": district,
        "draw_date": round_.draw_date if round_ else campaign_selectors.draw_date_for(campaign),
        "rows": [(row, f"{register_url}?{urlencode({'district': district.code, 'outlet': row.code})}")
                 for row in rows],
        "any_url": f"{register_url}?{urlencode({'district': district.code, 'any': '1'})}",
    })


def _client(request: HttpRequest) -> Client:
    if not request.session.session_key:
        request.session.save()
    return Client(ip=str(request.META.get("REMOTE_ADDR") or ""), session=request.session.session_key or "")


def _proof_context(purpose: str) -> dict[str, Any]:
    return {"challenge_json": json.dumps(challenge_create(purpose=purpose), separators=(",", ":"))}


@never_cache
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _campaign(slug)
    source = request.POST if request.method == "POST" else request.GET
    district = _district(campaign, source.get("district", ""))
    if district is None and request.method == "GET":
        return redirect("portal:district_list", slug=campaign.slug)
    outlets = list(outlets_of_district(district_code=district.code).filter(status="open")) if district else []
    choices = [(o.code, f"{o.name}（{o.address}）") for o in outlets]
    if request.method == "GET":
        form = RegistrationForm(outlet_choices=choices, ask_health=campaign.ask_health, initial={
            "district": district.code if district else "", "outlet": request.GET.get("outlet", ""),
            "accept_any": request.GET.get("any") == "1"})
        return _render(request, campaign, "portal/register.html", _register_context(campaign, district, form))
    form = RegistrationForm(request.POST, outlet_choices=choices, ask_health=campaign.ask_health)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        health = None
        if form.asks_health:
            returned, return_date, symptoms = form.health_values()
            health = HealthAnswers(returned=returned, return_date=return_date, symptoms=symptoms)
        try:
            receipt = registration_submit(
                campaign=campaign, channel=Registration.Channel.WEB, proof=data["altcha"], client=_client(request),
                request=RegistrationRequest(
                    name=data["name"], id_number=data["id_number"], phone=data["phone"], district=data["district"],
                    outlet=data["outlet"], accept_any=data["accept_any"], consent_id=data["consent_id"],
                    consent_health=bool(data.get("consent_health")), health=health))
        except DomainError as exc:
            form.add_domain_errors(exc.errors)
            status = exc.status
        else:
            request.session[RECEIPT_KEY] = {"campaign": campaign.pk, "phone_masked": receipt.phone_masked,
                                            "draw_at": receipt.draw_at.isoformat()}
            return redirect("portal:registered", slug=campaign.slug)
    return _render(request, campaign, "portal/register.html", _register_context(campaign, district, form),
                   status=status)


def _register_context(campaign: Campaign, district: Division | None, form: RegistrationForm) -> dict[str, Any]:
    return {"district": district, "form": form, "in_maintenance": campaign_selectors.in_maintenance(campaign),
            "maintenance_end": _hhmm(campaign.maintenance_end, end=True),
            "eligibility_lists": list(campaign.eligibility_lists.values_list("name", flat=True)),
            **_proof_context("register")}


@never_cache
@require_GET
def registered(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _campaign(slug)
    receipt = request.session.get(RECEIPT_KEY)
    if not isinstance(receipt, dict) or receipt.get("campaign") != campaign.pk:
        return redirect("portal:status_lookup", slug=campaign.slug)
    return _render(request, campaign, "portal/registered.html", {
        "phone_masked": receipt["phone_masked"], "draw_at": dt.datetime.fromisoformat(receipt["draw_at"])})


@never_cache
@require_http_methods(["GET", "POST"])
def status_lookup(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 1 of seeing one's own record: the ID number (and a proof of work) → a code to the phone on file."""
    campaign = _campaign(slug)
    if request.method == "GET":
        return _render(request, campaign, "portal/status_lookup.html",
                       {"form": StatusLookupForm(), **_proof_context("status_code")})
    form = StatusLookupForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            sent = status_code_send(campaign=campaign, id_number=form.cleaned_data["id_number"],
                                    proof=form.cleaned_data["altcha"], client=_client(request))
        except DomainError as exc:
            form.add_domain_errors(exc.errors)
            status = exc.status
        else:
            request.session[CODE_KEY] = {"campaign": campaign.pk, "token": sent.token}
            return redirect("portal:status_code", slug=campaign.slug)
    return _render(request, campaign, "portal/status_lookup.html",
                   {"form": form, **_proof_context("status_code")}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def status_code(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 2: the 6-digit code → the resident's own record in this session."""
    campaign = _campaign(slug)
    pending = request.session.get(CODE_KEY)
    if not isinstance(pending, dict) or pending.get("campaign") != campaign.pk:
        return redirect("portal:status_lookup", slug=campaign.slug)
    if request.method == "GET":
        return _render(request, campaign, "portal/status_code.html", {"form": CodeForm()})
    form = CodeForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            own = status_code_verify(campaign=campaign, token=str(pending.get("token", "")),
                                     code=form.cleaned_data["code"], client=_client(request))
        except DomainError as exc:
            form.add_domain_errors(exc.errors)
            status = exc.status
        else:
            request.session.pop(CODE_KEY, None)
            if own.registration is None:
                request.session.cycle_key()
                return _render(request, campaign, "portal/status_none.html", {})
            _remember(request, own.registration)
            return redirect("portal:status_view", slug=campaign.slug)
    return _render(request, campaign, "portal/status_code.html", {"form": form}, status=status)


def _qr_svg(code: str) -> str:
    return mark_safe(segno.make(code, error="m").svg_inline(scale=8, border=4, omitsize=True, title=code))


@never_cache
@require_GET
def status_view(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _campaign(slug)
    reg = _remembered(request, campaign)
    if reg is None:
        return redirect("portal:status_lookup", slug=campaign.slug)
    s = registration_selectors.registration_status(registration=reg)
    draw = getattr(reg.round, "draw", None)
    in_draw = draw is not None and s.status in ("registered", "won", "lost")
    return _render(request, campaign, "portal/status.html", {
        "s": s,
        "number_grouped": group(s.number),
        "qr_svg": _qr_svg(s.pickup_code) if s.pickup_code and s.redeemed_at is None else "",
        "can_withdraw": s.can_withdraw,
        "draw": draw,
        "proof_url": reverse("portal:draw_proof", args=[draw.draw_id, s.entry_id]) if in_draw and draw else "",
        "rolled_to_grouped": group(s.rolled_over_to_number) if s.rolled_over_to_number else "",
    })


@never_cache
@require_POST
def status_withdraw(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _campaign(slug)
    reg = _remembered(request, campaign)
    if reg is None:
        return redirect("portal:status_lookup", slug=campaign.slug)
    try:
        registration_withdraw(registration=reg)
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Your registration has been withdrawn."))
    return redirect("portal:status_view", slug=campaign.slug)


# --- public draw pages ----------------------------------------------------------------------------------

@require_GET
def draw_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(draw_pages.draws_public(), 50).get_page(request.GET.get("page"))
    return render(request, "portal/draw_list.html", {"page": page})


@require_GET
def draw_detail(request: HttpRequest, draw_id: str) -> HttpResponse:
    draw = draw_pages.draw_public(draw_id=draw_id)
    if draw is None:
        raise Http404
    return _render(request, draw.round.campaign, "portal/draw_detail.html", {
        "draw": draw, "files": draw_pages.draw_file_rows(draw=draw),
        "published": draw.state == Draw.State.PUBLISHED, "fairness": draw_pages.draw_fairness(draw=draw)})


@require_GET
def draw_file(request: HttpRequest, draw_id: str, name: str) -> HttpResponse:
    f = draw_pages.draw_file_get(draw_id=draw_id, name=name)
    if f is None:
        raise Http404
    response = HttpResponse(bytes(f.content), content_type=draw_pages.CONTENT_TYPES[name])
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["ETag"] = f'"{f.sha256}"'
    response["Cache-Control"] = PUBLIC_FILE_CACHE
    return response


@require_GET
def draw_zip(request: HttpRequest, draw_id: str) -> HttpResponse:
    draw = draw_pages.draw_public(draw_id=draw_id)
    content = draw_pages.draw_zip_bytes(draw=draw) if draw is not None else None
    if content is None:
        raise Http404
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{draw_id}.zip"'
    response["Cache-Control"] = PUBLIC_FILE_CACHE
    return response


@require_GET
def draw_proof(request: HttpRequest, draw_id: str, entry_id: str) -> HttpResponse:
    content = draw_pages.draw_inclusion_proof(draw_id=draw_id, entry_id=entry_id)
    if content is None:
        raise Http404
    response = HttpResponse(content, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{draw_id}-proof-{entry_id}.json"'
    response["Cache-Control"] = PUBLIC_FILE_CACHE
    return response
