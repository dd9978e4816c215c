"""Resident pages of first-come campaigns (Hangzhou): countdown, claim (district → street → form, with a proof of
work solved in the browser, and a pasted address read into the address fields on request), sold out,
confirmation, the resident's own claim (ID number → one-time code to the phone on file → status) and the small
JSON of units left.

Each view parses its input, calls one service or selector and renders; the rules live in ``allot.firstcome``.
``admission_gate`` is the early-answer hook of ``allot.core.admission.AdmissionMiddleware``: it answers
"not open yet" and "sold out for today" for the claim page and the claim API from the process cache and the
sold-out flag, without a database query.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from allot.campaigns.models import Campaign
from allot.core.admission import replayable
from allot.core.codes import group
from allot.core.errors import DomainError, NotFound
from allot.delivery.addresses import (
    GUESS_TEXT_MAX,
    AddressGuess,
    Gazetteer,
    GuessNote,
    address_guess,
    gazetteer,
)
from allot.firstcome import gate, selectors
from allot.firstcome.models import Claim
from allot.firstcome.resident import claim_code_send, claim_code_verify, claim_proof_required, claim_submit
from allot.firstcome.selectors import ClaimCampaign, Window
from allot.firstcome.services import ClaimRequest, sold_out_error, sold_out_recheck_shared, sold_out_refresh
from allot.portal.forms import CodeForm, DomainErrorsMixin, OnlyKnownFieldsMixin, ProofField
from allot.verification.proof import challenge_create
from allot.verification.ratelimit import Client

SESSION_KEY = "portal_claim_pk"
CODE_KEY = "portal_claim_code"
COUNTDOWN_MAX_AGE = 30
SOLD_OUT_MAX_AGE = 5


# --- forms ----------------------------------------------------------------------------------------------

class ClaimForm(DomainErrorsMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, required=False, help_text=_("As on your resident ID card."),
                           widget=forms.TextInput(attrs={"autocomplete": "name"}))
    id_number = forms.CharField(
        label=_("Resident ID number"), max_length=40, required=False,
        help_text=_("18 characters; the last one may be the letter X."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}))
    phone = forms.CharField(label=_("Mobile phone number"), max_length=30, required=False,
                            help_text=_("The courier calls this number."),
                            widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}))
    district = forms.CharField(required=False, widget=forms.HiddenInput)
    street = forms.CharField(required=False, widget=forms.HiddenInput)
    outlet = forms.CharField(required=False, widget=forms.HiddenInput)
    committee = forms.CharField(label=_("Community (社区/村)"), required=False, widget=forms.Select)
    building = forms.CharField(label=_("Building (楼栋)"), max_length=40, required=False,
                               help_text=_("e.g. 3 for 3幢 / 3号楼"),
                               widget=forms.TextInput(attrs={"inputmode": "text", "autocomplete": "off"}))
    unit = forms.CharField(label=_("Unit (单元)"), max_length=20, required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "off"}))
    room = forms.CharField(label=_("Room (室)"), max_length=20, required=False, help_text=_("e.g. 301"),
                           widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))
    line = forms.CharField(label=_("Anything else the courier needs"), max_length=100, required=False,
                           help_text=_("Optional, e.g. 东门快递柜. Everything above goes in its own field."),
                           widget=forms.TextInput(attrs={"autocomplete": "off"}))
    consent = forms.BooleanField(
        label=_("I have read the notice above and agree that my information is used as described."), required=False)
    altcha = ProofField()
    # the pre-fill: read by ``claim_prefill`` only, never by the claim (see PREFILL)
    paste = forms.CharField(
        label=_("Paste an address to fill in the fields"), required=False,
        help_text=_("e.g. 杭州市西湖区北山街道北山社区3幢2单元301室, copied from a delivery app or a message. "
                    "Then check every field."),
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": GUESS_TEXT_MAX, "autocomplete": "off",
                                     "spellcheck": "false"}))

    def __init__(self, *args: Any, committee_choices: list[tuple[str, str]] | None = None,
                 street_choices: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if committee_choices:
            self.fields["committee"].widget.choices = [("", str(_("— choose —"))), *committee_choices]
        else:
            self.fields["committee"].widget = forms.HiddenInput()
        if street_choices:  # a district without its street (after a pre-fill): the street is chosen here
            self.fields["street"].label = _("Street (街道/镇)")
            self.fields["street"].widget = forms.Select(choices=[("", str(_("— choose —"))), *street_choices])


class ClaimLookupForm(OnlyKnownFieldsMixin, DomainErrorsMixin, forms.Form):
    id_number = forms.CharField(
        label=_("Resident ID number"), max_length=40, required=False,
        help_text=_("The ID number you claimed with. We send a 6-digit code to the phone on file for it."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}))
    altcha = ProofField()


# --- helpers --------------------------------------------------------------------------------------------

def _claim_campaign(slug: str) -> ClaimCampaign:
    try:
        return selectors.claim_campaign(slug=slug)
    except NotFound:
        raise Http404(slug) from None


def _render(request: HttpRequest, campaign: Campaign, template: str, context: dict[str, Any],
            status: int = 200) -> HttpResponse:
    with timezone.override(campaign.tz):
        return render(request, template, {"campaign": campaign, **context}, status=status)


def _public(response: HttpResponse, max_age: int) -> HttpResponse:
    """A page that is the same for everybody for ``max_age`` seconds (no session, no CSRF token in it)."""
    response["Cache-Control"] = f"public, max-age={max(1, max_age)}"
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    return response


def _static_page(request: HttpRequest, campaign: Campaign, w: Window, *, status: int = 200) -> HttpResponse:
    """Countdown, sold out, closed or maintenance: one template, the same for everyone, cacheable."""
    sold_out = w.state == "open"
    state = "sold_out" if sold_out else w.state
    refresh = min(60, max(5, w.seconds_to_open)) if state == "before_open" else 0
    with timezone.override(campaign.tz):
        body = render_to_string("portal/firstcome/gate.html", {
            "campaign": campaign, "w": w, "state": state, "refresh": refresh,
            "opens_ms": int(w.opens.timestamp() * 1000)}, request=None)
    response = HttpResponse(body, status=status)
    if state == "before_open":
        return _public(response, min(COUNTDOWN_MAX_AGE, w.seconds_to_open))
    if status == 200:
        return _public(response, SOLD_OUT_MAX_AGE)
    response["Cache-Control"] = "no-store"
    return response


def _client(request: HttpRequest, *, save_session: bool = False) -> Client:
    """The client address and, if the browser has one, its session (the claim path creates none: that would be
    a write of its own; the lookup pages need one anyway, for the code step)."""
    if save_session and not request.session.session_key:
        request.session.save()
    return Client(ip=str(request.META.get("REMOTE_ADDR") or ""), session=request.session.session_key or "")


def _challenge_json(purpose: str) -> str:
    return json.dumps(challenge_create(purpose=purpose), separators=(",", ":"))


def _api_error(exc: DomainError) -> HttpResponse:
    body = json.dumps({"errors": [e.as_dict() for e in exc.errors]}, ensure_ascii=False)
    response = HttpResponse(body, status=exc.status, content_type="application/json; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def _scope_hint(request: HttpRequest, campaign: Campaign) -> str | None:
    """The area a POST asks for, read cheaply (no validation): only to look the sold-out flag up."""
    name = gate.scope_field(campaign.quota_scope)
    if name is None:
        return None
    if request.path_info.startswith("/api/"):
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return None
        return gate.area_hint(data, name)
    return request.POST.get(name, "").strip() or None


# --- the admission hook ---------------------------------------------------------------------------------

def admission_gate(request: HttpRequest, match: re.Match[str]) -> HttpResponse | None:
    """Answer early what needs no work: not open yet, closed, sold out. None lets the request through."""
    try:
        cc = selectors.claim_campaign(slug=match["slug"])
    except NotFound:
        return None
    campaign = cc.campaign
    w = selectors.window(campaign)
    api = request.path_info.startswith("/api/")
    if w.state != "open":
        if api:
            return _api_error(_window_error(campaign, w)) if request.method == "POST" else None
        return _static_page(request, campaign, w, status=200 if request.method == "GET" else 409)
    hint = _scope_hint(request, campaign) if request.method == "POST" else None
    sold, whole = gate.sold_out_for(slug=campaign.slug, day=w.day, hint=hint)
    if not sold:
        return None
    if api:
        if request.method != "POST":
            return None
        response = _sold_out_api(request, campaign, w)
        flag_until = gate.sold_out_until(slug=campaign.slug, day=w.day, scope_key=gate.WHOLE)
        if whole and flag_until is not None:
            # the same answer for everyone while this process's flag holds, and never past the next opening
            to_next = (w.next_opens - timezone.now()).total_seconds()
            replayable(response, until=min(flag_until, time.monotonic() + max(0.0, to_next)))
        return response
    return _static_page(request, campaign, w, status=200 if request.method == "GET" else 409)


def admission_recheck(match: re.Match[str]) -> bool:
    """Before the WSGI admission answers a claim "busy" (config/wsgi.py alone): whether its campaign is sold out
    after all, when this process knew it sold out and its flags have lapsed after a quiet spell. If so the flag is
    set again, and the claim is told "sold out for today" (``admission_gate``), not "come back" (ADR 0012,
    decision 13; the claim lane asks the same in ``ClaimLane._sold_out_again``)."""
    return sold_out_recheck_shared(slug=match["slug"], wait=RECHECK_WAIT, wait_unseen=RECHECK_WAIT_UNSEEN)


RECHECK_WAIT = 0.25   # seconds a refusal waits for the look at the record another request is making
RECHECK_WAIT_UNSEEN = 0.02   # the same, in a process that never learned of the sell-out (see the claim lane's)


def admission_refresh(match: re.Match[str]) -> bool:
    """Shortly before the kept "sold out" answer and this process's flag end, while a crowd is still told so
    (config/wsgi.py alone): whether campaign ``match["slug"]`` is still sold out, asked of the record; if so the
    flag is set again before it lapses (``services.sold_out_refresh``; the claim lane asks the same)."""
    return sold_out_refresh(slug=match["slug"])


_SOLD_OUT_BODIES: dict[tuple[str, dt.date, str], bytes] = {}


def _sold_out_api(request: HttpRequest, campaign: Campaign, w: Window) -> HttpResponse:
    """The 409 ``sold_out`` body is the same for everyone asking in one language on one day: built once."""
    lang = translation.get_language_from_request(request)
    key = (campaign.slug, w.day, lang)
    body = _SOLD_OUT_BODIES.get(key)
    if body is None:
        with translation.override(lang):
            exc = sold_out_error(w)
            body = json.dumps({"errors": [e.as_dict() for e in exc.errors]}, ensure_ascii=False).encode()
        if len(_SOLD_OUT_BODIES) > 1000:
            _SOLD_OUT_BODIES.clear()
        _SOLD_OUT_BODIES[key] = body
    response = HttpResponse(body, status=409, content_type="application/json; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["Content-Language"] = lang
    return response


def _window_error(campaign: Campaign, w: Window) -> DomainError:
    from allot.firstcome.services import window_check

    try:
        window_check(campaign, timezone.now())
    except DomainError as exc:
        return exc
    return sold_out_error(w)


# --- pages ----------------------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def claim(request: HttpRequest, slug: str) -> HttpResponse:
    cc = _claim_campaign(slug)
    campaign = cc.campaign
    w = selectors.window(campaign)
    if w.state != "open" or gate.is_sold_out(slug=slug, day=w.day, scope_key=gate.WHOLE):
        return _static_page(request, campaign, w, status=200 if request.method == "GET" else 409)
    source = request.POST if request.method == "POST" else request.GET
    delivery = campaign.fulfilment == Campaign.Fulfilment.DELIVERY
    g = gazetteer(campaign.city_id)
    district = source.get("district", "")
    street = source.get("street", "")
    if request.method == "GET" and (delivery or campaign.quota_scope == Campaign.QuotaScope.DISTRICT):
        if district not in g.districts:
            return _never(_render(request, campaign, "portal/firstcome/pick.html", {
                "w": w, "step": "district", "items": sorted(g.districts.items())}))
        if delivery and g.streets_of.get(district) and street not in dict(g.streets_of[district]):
            return _never(_render(request, campaign, "portal/firstcome/pick.html", {
                "w": w, "step": "street", "district": (district, g.districts[district]),
                "items": g.streets_of[district]}))
    committees = g.committees_of.get(street, []) if delivery else []
    if request.method == "GET":
        form = ClaimForm(committee_choices=committees, initial={"district": district, "street": street,
                                                                 "outlet": source.get("outlet", "")})
        return _form_page(request, cc, w, form, district, street)
    if PREFILL in request.POST:
        return _prefilled(request, cc, w)
    form = ClaimForm(request.POST, committee_choices=committees,
                     street_choices=_street_choices(g, district, street) if delivery else None)
    status = 400
    if form.is_valid():
        d = form.cleaned_data
        try:
            c = claim_submit(
                campaign=campaign, channel=Claim.Channel.WEB, list_ids=cc.list_ids, proof=d["altcha"],
                client=_client(request), request=ClaimRequest(
                    name=d["name"], id_number=d["id_number"], phone=d["phone"], district=d["district"],
                    outlet=d["outlet"], street=d["street"], committee=d["committee"], building=d["building"],
                    unit=d["unit"], room=d["room"], line=d["line"], consent=d["consent"]))
        except DomainError as exc:
            if exc.code == "sold_out":
                return _static_page(request, campaign, w, status=409)
            form.add_domain_errors(exc.errors)
            status = exc.status
        else:
            request.session.cycle_key()
            request.session[SESSION_KEY] = c.pk
            return redirect("portal:fc_done", slug=slug)
    return _form_page(request, cc, w, form, district, street, status=status)


def _never(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _form_page(request: HttpRequest, cc: ClaimCampaign, w: Window, form: ClaimForm, district: str, street: str,
               status: int = 200, prefill: Prefill | None = None) -> HttpResponse:
    campaign = cc.campaign
    g = gazetteer(campaign.city_id)
    left = selectors.remaining(campaign=campaign, day=w.day)
    return _never(_render(request, campaign, "portal/firstcome/form.html", {
        "w": w, "form": form, "left": left, "delivery": campaign.fulfilment == Campaign.Fulfilment.DELIVERY,
        "district_name": g.districts.get(district, ""), "district": district,
        "street_name": dict(g.streets_of.get(district, [])).get(street, ""),
        "challenge_json": _challenge_json("claim") if claim_proof_required(Claim.Channel.WEB) else "",
        "prefill": prefill,
    }, status=status))


# --- the pre-fill of the address from a pasted text -----------------------------------------------------
#
# The claim form's "Fill in the fields" button posts the whole form, with the submit name PREFILL, to
# ``claim_prefill`` (its own URL, so that it is not a claim request for the admission cap and the waiting room;
# the claim view answers a PREFILL post the same way). The page comes back with the address fields filled in
# from ``address_guess`` and everything else as typed: no claim, no proof of work spent, no rate limit counted,
# nothing stored or logged. With JavaScript, static/allot/address_guess.js asks the JSON API instead and fills
# the fields in place when the district and street stay the same.

PREFILL = "prefill"
_KEPT = ("name", "id_number", "phone", "outlet", "committee", "building", "unit", "room", "line", "paste")
# "still to choose" notes of the guess that the form's kept values may already answer (same list in the script)
_ANSWERED_BY = {"address_district_required": "district", "address_street_required": "street",
                "address_committee_required": "committee", "address_building_required": "building"}


@dataclass(frozen=True)
class Prefill:
    guess: AddressGuess | None               # None: nothing was pasted, or too much
    problem: str = ""                        # why there is no guess
    notes: tuple[GuessNote, ...] = ()        # the guess's notes, less those the form already answers


def _street_choices(g: Gazetteer, district: str, street: str) -> list[tuple[str, str]] | None:
    """The streets to choose from when a district with a street list has no (valid) street."""
    streets = g.streets_of.get(district, [])
    return streets if streets and street not in dict(streets) else None


def _prefill_read(*, city_code: str, paste: str) -> Prefill:
    paste = paste.replace("\r\n", "\n").strip()   # a browser counts a line break as one character
    if not paste:
        return Prefill(None, str(_("Paste the address into the box first.")))
    if len(paste) > GUESS_TEXT_MAX:
        return Prefill(None, str(_("Paste at most %(n)s characters.") % {"n": GUESS_TEXT_MAX}))
    return Prefill(address_guess(city_code=city_code, text=paste))


def _prefilled(request: HttpRequest, cc: ClaimCampaign, w: Window) -> HttpResponse:
    """The form as the resident typed it, its address fields replaced by what the guess found (and only those);
    a new district or street empties the community chosen before."""
    campaign = cc.campaign
    g = gazetteer(campaign.city_id)
    data = request.POST
    initial: dict[str, Any] = {name: data.get(name, "") for name in _KEPT}
    initial["consent"] = bool(data.get("consent"))
    district, street = data.get("district", ""), data.get("street", "")
    if district not in g.districts:
        district = street = ""
    delivery = campaign.fulfilment == Campaign.Fulfilment.DELIVERY
    prefill = _prefill_read(city_code=campaign.city_id, paste=initial["paste"]) if delivery else None
    guess = prefill.guess if prefill else None
    if guess is not None:
        if guess.district_code and guess.district_code != district:
            district, street, initial["committee"] = guess.district_code, "", ""
        if guess.street_code and guess.street_code != street:
            street, initial["committee"] = guess.street_code, ""
        found = {"committee": guess.committee_code, "building": guess.building, "unit": guess.unit,
                 "room": guess.room, "line": guess.line}
        initial.update({name: value for name, value in found.items() if value})
    initial.update(district=district, street=street)
    if guess is not None and prefill is not None:
        notes = tuple(n for n in guess.unplaced if not initial.get(_ANSWERED_BY.get(n.code, ""), ""))
        prefill = Prefill(guess, notes=notes)
    form = ClaimForm(initial=initial, committee_choices=g.committees_of.get(street, []) if delivery else [],
                     street_choices=_street_choices(g, district, street) if delivery else None)
    return _form_page(request, cc, w, form, district, street, prefill=prefill)


@require_http_methods(["GET", "POST"])
def claim_prefill(request: HttpRequest, slug: str) -> HttpResponse:
    """The claim form again, its address filled in from the pasted text (see PREFILL). GET goes to the form."""
    cc = _claim_campaign(slug)
    campaign = cc.campaign
    if request.method == "GET":
        return redirect("portal:fc_claim", slug=slug)
    w = selectors.window(campaign)
    if w.state != "open" or gate.is_sold_out(slug=slug, day=w.day, scope_key=gate.WHOLE):
        return _static_page(request, campaign, w, status=409)
    return _prefilled(request, cc, w)


def _remembered(request: HttpRequest, campaign: Campaign) -> Claim | None:
    pk = request.session.get(SESSION_KEY)
    if not isinstance(pk, int):
        return None
    try:
        c = selectors.claim_for_status(pk=pk)
    except Claim.DoesNotExist:
        return None
    return c if c.campaign_id == campaign.pk else None


@never_cache
@require_GET
def done(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _claim_campaign(slug).campaign
    c = _remembered(request, campaign)
    if c is None:
        return redirect("portal:fc_status_lookup", slug=slug)
    return _render(request, campaign, "portal/firstcome/status.html",
                   {"s": selectors.claim_status(claim=c), "number_grouped": group(c.number), "just_claimed": True})


@never_cache
@require_http_methods(["GET", "POST"])
def status_lookup(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 1 of seeing one's own claim: the ID number (and a proof of work) → a code to the phone on file. The
    answer is the same whether or not the ID number has a claim."""
    campaign = _claim_campaign(slug).campaign
    form = ClaimLookupForm(request.POST) if request.method == "POST" else ClaimLookupForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                sent = claim_code_send(campaign=campaign, id_number=form.cleaned_data["id_number"],
                                       proof=form.cleaned_data["altcha"], client=_client(request, save_session=True))
            except DomainError as exc:
                form.add_domain_errors(exc.errors)
                status = exc.status
            else:
                request.session[CODE_KEY] = {"campaign": campaign.pk, "token": sent.token}
                return redirect("portal:fc_status_code", slug=slug)
    return _render(request, campaign, "portal/firstcome/status_lookup.html",
                   {"form": form, "challenge_json": _challenge_json("status_code")}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def status_code(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 2: the 6-digit code → the resident's own claim in this session (or: none in this campaign)."""
    campaign = _claim_campaign(slug).campaign
    pending = request.session.get(CODE_KEY)
    if not isinstance(pending, dict) or pending.get("campaign") != campaign.pk:
        return redirect("portal:fc_status_lookup", slug=slug)
    if request.method == "GET":
        return _render(request, campaign, "portal/firstcome/status_code.html", {"form": CodeForm()})
    form = CodeForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            own = claim_code_verify(campaign=campaign, token=str(pending.get("token", "")),
                                    code=form.cleaned_data["code"], client=_client(request, save_session=True))
        except DomainError as exc:
            form.add_domain_errors(exc.errors)
            status = exc.status
        else:
            request.session.pop(CODE_KEY, None)
            request.session.cycle_key()
            if own.claim is None:
                request.session.pop(SESSION_KEY, None)
                return _render(request, campaign, "portal/firstcome/status_none.html", {})
            request.session[SESSION_KEY] = own.claim.pk
            return redirect("portal:fc_status_view", slug=slug)
    return _render(request, campaign, "portal/firstcome/status_code.html", {"form": form}, status=status)


@never_cache
@require_GET
def status_view(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _claim_campaign(slug).campaign
    c = _remembered(request, campaign)
    if c is None:
        return redirect("portal:fc_status_lookup", slug=slug)
    return _render(request, campaign, "portal/firstcome/status.html",
                   {"s": selectors.claim_status(claim=c), "number_grouped": group(c.number)})


@require_GET
def remaining(request: HttpRequest, slug: str) -> HttpResponse:
    """``{"day", "state", "opens_at", "units", "left", "sold_out", "by_area"}``, cacheable for 2 s."""
    campaign = _claim_campaign(slug).campaign
    w = selectors.window(campaign)
    r = selectors.remaining(campaign=campaign, day=w.day)
    sold_out = w.state == "open" and ((r.units > 0 and r.left == 0)
                                      or gate.is_sold_out(slug=slug, day=w.day, scope_key=gate.WHOLE))
    response = JsonResponse({
        "day": w.day.isoformat(), "state": "sold_out" if sold_out else w.state,
        "opens_at": w.opens.astimezone(campaign.tz).isoformat(), "units": r.units, "left": r.left,
        "sold_out": sold_out, "by_area": r.by_scope, "as_of": dt.datetime.now(tz=campaign.tz).isoformat()})
    response["Cache-Control"] = f"public, max-age={selectors.REMAINING_MAX_AGE}"
    return response


urlpatterns = [
    path("c/<slug:slug>/claim/", claim, name="fc_claim"),
    path("c/<slug:slug>/claim/prefill/", claim_prefill, name="fc_claim_prefill"),
    path("c/<slug:slug>/claim/done/", done, name="fc_done"),
    path("c/<slug:slug>/claim/remaining.json", remaining, name="fc_remaining"),
    path("c/<slug:slug>/claim/status/", status_lookup, name="fc_status_lookup"),
    path("c/<slug:slug>/claim/status/code/", status_code, name="fc_status_code"),
    path("c/<slug:slug>/claim/status/view/", status_view, name="fc_status_view"),
]
