"""Staff pages: each view parses input, checks the role, calls one service or selector and renders."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import segno
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from allot.backoffice import access, selectors
from allot.backoffice.forms import (
    BeaconForm,
    EligibilityUploadForm,
    ExportRequestForm,
    ManifestDayForm,
    ManifestDownloadForm,
    NotaryDigitsForm,
    OtpTokenForm,
    PurposeForm,
    RedeemForm,
    RegistrationFindForm,
    StaffLoginForm,
    new_nonce,
)
from allot.campaigns.models import Campaign
from allot.core.errors import DomainError
from allot.delivery.models import Parcel
from allot.draws import services as draw_services
from allot.draws.models import Draw
from allot.identity.services import eligibility_import_csv
from allot.pickup.services import pickup_redeem
from allot.privacy import manifests
from allot.privacy import selectors as privacy_selectors
from allot.privacy import services as privacy_services
from allot.staff import services as staff_services
from allot.staff.selectors import needs_second_factor

T = TypeVar("T")


def _error_text(exc: DomainError) -> str:
    return f"{exc.message} ({exc.code})"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(request, "backoffice/home.html", {
        "profile": access.profile_of(user),
        "can_redeem": access.is_clerk(user),
        "can_draws": access.is_operator(user) or access.is_notary(user),
        "can_upload": access.is_operator(user),
        "can_admin": user.is_staff,
        "can_reveal": access.is_operator(user),
        "can_manifests": access.is_operator(user),
    })


# --- clerk ----------------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def redeem(request: HttpRequest) -> HttpResponse:
    access.require(access.is_clerk(request.user))
    profile = access.profile_of(request.user)
    assert profile is not None and profile.outlet is not None
    context: dict[str, object] = {"outlet": profile.outlet}
    status = 200
    if request.method == "POST":
        form = RedeemForm(request.POST)
        form.is_valid()  # every field is optional; the service says what is missing
        try:
            pc = pickup_redeem(code=form.cleaned_data.get("code", ""), clerk=request.user,
                               nonce=form.cleaned_data.get("nonce", ""))
        except DomainError as exc:
            context["error"] = {"code": exc.code, "message": exc.message}
            status = exc.status
        else:
            reg = pc.registration
            campaign = reg.campaign
            context["success"] = {"units": campaign.units_per_winner, "unit_label": campaign.unit_label,
                                  "good": campaign.good, "number": reg.number, "code": pc.code}
    context["form"] = RedeemForm(initial={"nonce": new_nonce()})
    context["today_count"] = selectors.redemptions_today(outlet_id=profile.outlet.pk)
    return render(request, "backoffice/redeem.html", context, status=status)


# --- operator and notary: draws -------------------------------------------------------------------------

@login_required
def draw_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    access.require(access.is_operator(user) or access.is_notary(user))
    return render(request, "backoffice/draw_list.html", {
        "draws": selectors.draws_visible(user=user),
        "run_now_campaigns": selectors.campaigns_for_draw_now(user=user) if access.is_operator(user) else [],
        "is_operator": access.is_operator(user),
        "is_notary": access.is_notary(user),
    })


@login_required
@require_POST
def draw_run_now(request: HttpRequest) -> HttpResponse:
    access.require(access.is_operator(request.user))
    campaign = get_object_or_404(selectors.campaigns_for_draw_now(user=request.user),
                                 slug=request.POST.get("campaign", ""))
    try:
        d = draw_services.draw_run_now(campaign=campaign)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        text = _("Draw %(draw_id)s done: %(winners)d winners of %(entries)d entries; pickup is open now.")
        messages.success(request, text % {"draw_id": d.draw_id, "winners": d.winners, "entries": d.entries})
    return redirect("backoffice:draws")


@login_required
@require_POST
def draw_verify(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.is_operator(request.user) or access.is_notary(request.user))
    d = selectors.draw_visible_get(user=request.user, pk=pk)
    d = draw_services.draw_verify(draw=d)
    if d.verified_at:
        messages.success(request, _("Verified: %(summary)s") % {"summary": d.verify_summary})
    else:
        messages.error(request, _("Verification failed: %(summary)s") % {"summary": d.verify_summary})
    return redirect("backoffice:draws")


@login_required
@require_http_methods(["GET", "POST"])
def draw_notary(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.is_notary(request.user))
    d = selectors.draw_visible_get(user=request.user, pk=pk)
    form = NotaryDigitsForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            draw_services.draw_notary_digits_submit(draw=d, digits=form.cleaned_data["digits"],
                                                    actor=request.user)
        except DomainError as exc:
            form.add_error("digits" if exc.field == "digits" else None, _error_text(exc))
            status = exc.status
        else:
            messages.success(request, _("Notary digits recorded for %(draw_id)s.") % {"draw_id": d.draw_id})
            return redirect("backoffice:draws")
    return render(request, "backoffice/draw_notary.html", {"draw": d, "form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def draw_beacon(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.is_operator(request.user) or access.is_notary(request.user))
    d = selectors.draw_visible_get(user=request.user, pk=pk)
    form = BeaconForm(request.POST or None, initial={"round": d.beacon_round})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            draw_services.draw_beacon_submit(draw=d, round_no=form.cleaned_data["round"],
                                             signature_hex=form.cleaned_data["signature"],
                                             randomness_hex=form.cleaned_data["randomness"],
                                             actor=request.user)
        except DomainError as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, _error_text(exc))
            status = exc.status
        else:
            messages.success(request, _("Beacon value recorded for %(draw_id)s.") % {"draw_id": d.draw_id})
            return redirect("backoffice:draw-beacon", pk=d.pk)
    return render(request, "backoffice/draw_beacon.html", {
        "draw": d, "form": form, "ready": bool(d.notary_digits and d.beacon_signature),
        "published": d.state == Draw.State.PUBLISHED}, status=status)


@login_required
@require_POST
def draw_execute(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.is_operator(request.user) or access.is_notary(request.user))
    d = selectors.draw_visible_get(user=request.user, pk=pk)
    try:
        d = draw_services.draw_execute(draw=d)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
        return redirect("backoffice:draw-beacon", pk=d.pk)
    messages.success(request, _("Draw %(draw_id)s done: %(winners)d winners of %(entries)d entries.") % {
        "draw_id": d.draw_id, "winners": d.winners, "entries": d.entries})
    return redirect("backoffice:draws")


# --- operator: eligibility ------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def eligibility_upload(request: HttpRequest) -> HttpResponse:
    access.require(access.is_operator(request.user))
    lists = selectors.eligibility_lists_for(user=request.user)
    form = EligibilityUploadForm(request.POST or None, request.FILES or None, lists=lists)
    report = None
    status = 200
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data["eligibility_list"]
        try:
            report = eligibility_import_csv(eligibility_list=target, text=form.cleaned_data["file"],
                                            replace=form.cleaned_data["replace"], actor=request.user)
        except DomainError as exc:
            form.add_error("file" if exc.field == "file" else None, _error_text(exc))
            status = exc.status
        else:
            target.refresh_from_db(fields=["size", "imported_at"])
            return render(request, "backoffice/eligibility_upload.html", {
                "form": EligibilityUploadForm(lists=lists, initial={"eligibility_list": target}),
                "report": report, "target": target})
    return render(request, "backoffice/eligibility_upload.html", {"form": form, "report": report},
                  status=status)


# --- login and the second factor ------------------------------------------------------------------------

class StaffLoginView(auth_views.LoginView):
    template_name = "backoffice/login.html"
    redirect_authenticated_user = True
    authentication_form = StaffLoginForm


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return reverse("backoffice:home")


@login_required
@require_http_methods(["GET", "POST"])
def otp(request: HttpRequest) -> HttpResponse:
    """Enter the TOTP code (operators, notaries, superusers); at the first login, enrol an authenticator app."""
    user: Any = request.user
    next_url = _safe_next(request)
    if not needs_second_factor(user) or user.is_verified():
        return redirect(next_url)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    enrolling = device is None
    if device is None:
        device = staff_services.totp_device_for_enrolment(user=user)
    form = OtpTokenForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if staff_services.totp_verify(user=user, device=device, token=form.cleaned_data["token"]):
            otp_login(request, device)
            return redirect(next_url)
        form.add_error("token", _("Wrong or expired code. Wait for the next code and try again."))
        status = 400
    context: dict[str, object] = {"form": form, "enrolling": enrolling, "next": next_url}
    if enrolling:
        context["secret"] = base64.b32encode(device.bin_key).decode("ascii")
        context["qr_svg"] = mark_safe(segno.make(device.config_url, error="m").svg_inline(scale=4))
    return render(request, "backoffice/otp.html", context, status=status)


# --- operator: reveal with reason, exports with a second approver ---------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def registration_find(request: HttpRequest) -> HttpResponse:
    access.require(access.is_operator(request.user))
    form = RegistrationFindForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            reg = privacy_selectors.registration_in_scope_find(user=request.user, number=form.cleaned_data["number"])
        except DomainError:
            form.add_error("number", _("No registration with this number in your campaigns."))
            status = 404
        else:
            return redirect("backoffice:registration", pk=reg.pk)
    return render(request, "backoffice/registration_find.html", {"form": form}, status=status)


@login_required
def registration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.is_operator(request.user))
    reg = _in_scope_or_404(privacy_selectors.registration_in_scope_get, user=request.user, pk=pk)
    return render(request, "backoffice/registration.html", {"reg": reg, "form": PurposeForm()})


@login_required
@require_POST
def registration_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.is_operator(request.user))
    reg = _in_scope_or_404(privacy_selectors.registration_in_scope_get, user=request.user, pk=pk)
    form = PurposeForm(request.POST)
    revealed = None
    status = 200
    if form.is_valid():
        try:
            revealed = privacy_services.person_reveal(actor=request.user, registration_pk=reg.pk,
                                                      purpose=form.cleaned_data["purpose"])
        except DomainError as exc:
            form.add_error("purpose" if exc.field == "purpose" else None, _error_text(exc))
            status = exc.status
    else:
        status = 400
    return render(request, "backoffice/registration.html", {"reg": reg, "form": form, "revealed": revealed},
                  status=status)


@login_required
@require_http_methods(["GET", "POST"])
def export_list(request: HttpRequest) -> HttpResponse:
    access.require(access.is_operator(request.user))
    campaigns = access.campaigns_operated(request.user).order_by("slug")
    form = ExportRequestForm(request.POST or None, campaigns=campaigns)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                privacy_services.export_request(actor=request.user, campaign=form.cleaned_data["campaign"],
                                                purpose=form.cleaned_data["purpose"])
            except DomainError as exc:
                form.add_error(None, _error_text(exc))
                status = exc.status
            else:
                messages.success(request, _("Export requested. A second operator of the campaign must approve it."))
                return redirect("backoffice:exports")
        else:
            status = 400
    return render(request, "backoffice/exports.html", {
        "form": form, "exports": privacy_selectors.exports_in_scope(user=request.user)[:50],
        "access_log": privacy_selectors.access_log_for(user=request.user)}, status=status)


@login_required
@require_POST
def export_approve(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.is_operator(request.user))
    _in_scope_or_404(privacy_selectors.export_in_scope_get, user=request.user, pk=pk)
    try:
        privacy_services.export_approve(actor=request.user, export_pk=pk)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Export approved."))
    return redirect("backoffice:exports")


@login_required
@require_POST
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.is_operator(request.user))
    _in_scope_or_404(privacy_selectors.export_in_scope_get, user=request.user, pk=pk)
    try:
        filename, text = privacy_services.export_download(actor=request.user, export_pk=pk)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
        return redirect("backoffice:exports")
    response = HttpResponse(text.encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- operator: courier manifests (first-come delivery campaigns) -----------------------------------------

@login_required
def manifest_list(request: HttpRequest) -> HttpResponse:
    access.require(access.is_operator(request.user))
    return render(request, "backoffice/manifest_list.html", {
        "campaigns": selectors.manifest_campaigns(user=request.user)})


@login_required
@require_http_methods(["GET"])
def manifest_detail(request: HttpRequest, slug: str) -> HttpResponse:
    access.require(access.is_operator(request.user))
    campaign = selectors.manifest_campaign_get(user=request.user, slug=slug)
    day = selectors.manifest_day_default(campaign=campaign)
    form = ManifestDayForm(request.GET or None, initial={"day": day}, statuses=list(Parcel.Status.choices))
    status_filter = ""
    status = 200
    if request.GET:
        if form.is_valid():
            day = form.cleaned_data["day"] or day
            status_filter = form.cleaned_data["status"]
        else:
            status = 400
    download = ManifestDownloadForm(initial={"day": day})
    return _manifest_page(request, campaign, day, form, download, status_filter, status=status)


@login_required
@require_POST
def manifest_download(request: HttpRequest, slug: str) -> HttpResponse:
    """One courier's manifest as CSV or XLSX; the purpose goes to the access log (allot/privacy/manifests.py)."""
    access.require(access.is_operator(request.user))
    campaign = selectors.manifest_campaign_get(user=request.user, slug=slug)
    form = ManifestDownloadForm(request.POST)
    day = selectors.manifest_day_default(campaign=campaign)
    status = 400
    if form.is_valid():
        day = form.cleaned_data["day"]
        courier_code, district_code, fmt = form.cleaned_data["download"]
        courier = selectors.manifest_target_get(campaign=campaign, day=day, courier_code=courier_code,
                                                district_code=district_code)
        try:
            file = manifests.manifest_download(actor=request.user, campaign=campaign, courier=courier, day=day,
                                               district_code=district_code, fmt=fmt,
                                               purpose=form.cleaned_data["purpose"])
        except DomainError as exc:
            form.add_error("purpose" if exc.field == "purpose" else None, _error_text(exc))
            status = exc.status
        else:
            response = HttpResponse(file.content, content_type=file.content_type)
            response["Content-Disposition"] = f'attachment; filename="{file.name}"'
            response["Cache-Control"] = "no-store"
            return response
    elif isinstance(form.cleaned_data.get("day"), dt.date):
        day = form.cleaned_data["day"]
    return _manifest_page(request, campaign, day, ManifestDayForm(initial={"day": day},
                                                                  statuses=list(Parcel.Status.choices)),
                          form, "", status=status)


def _manifest_page(request: HttpRequest, campaign: Campaign, day: dt.date, day_form: ManifestDayForm,
                   download: ManifestDownloadForm, status_filter: str, *, status: int = 200) -> HttpResponse:
    with timezone.override(campaign.tz):
        return render(request, "backoffice/manifest_detail.html", {
            "campaign": campaign, "day": day, "day_form": day_form, "download": download,
            "overview": selectors.manifest_overview(campaign=campaign, day=day),
            "statuses": [(value, label) for value, label in Parcel.Status.choices],
            "status_filter": status_filter,
            "parcels": selectors.manifest_parcels(campaign=campaign, day=day, status=status_filter),
            "parcels_limit": selectors.MANIFEST_PARCELS_LIMIT,
            "days": selectors.manifest_days(campaign=campaign),
        }, status=status)


def _in_scope_or_404(getter: Callable[..., T], **kwargs: Any) -> T:
    try:
        return getter(**kwargs)
    except DomainError as exc:
        raise Http404 from exc
