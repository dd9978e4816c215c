"""Writes for registrations."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.campaigns import selectors as campaign_selectors
from allot.campaigns.models import Campaign, Round
from allot.campaigns.services import round_for_registration
from allot.core.audit import log_action
from allot.core.codes import random_code
from allot.core.errors import Conflict, DomainError, ErrorCollector, NotFound, PermissionDenied
from allot.core.locking import lock_shared
from allot.identity import validation
from allot.identity.models import Person
from allot.identity.selectors import eligible_lists
from allot.identity.services import PersonInput, id_index, person_upsert
from allot.places.models import Division, Outlet
from allot.registrations.models import Registration

REGISTRATION_NUMBER_LENGTH = 10


@dataclass(frozen=True)
class RegistrationRequest:
    """What a resident typed, unparsed: every channel hands this to ``registration_create``."""

    name: str
    id_number: str
    phone: str
    district: str
    outlet: str = ""
    accept_any: bool = False
    consent: bool = False


def _parse(campaign: Campaign, req: RegistrationRequest) -> tuple[PersonInput, Division, Outlet | None]:
    errors = ErrorCollector()
    values: dict[str, str] = {}
    for field_name, parser in (("name", validation.normalize_name), ("id_number", validation.normalize_id_number),
                               ("phone", validation.normalize_phone)):
        try:
            values[field_name] = parser(getattr(req, field_name))
        except DomainError as exc:
            errors.add(exc.field or field_name, exc.code, exc.message)
    district = Division.objects.filter(code=(req.district or "").strip(), parent_id=campaign.city_id,
                                       level=Division.Level.DISTRICT).first()
    if district is None:
        errors.add("district", "district_invalid", _("Choose a district of this campaign's city."))
    outlet = None
    if req.outlet:
        outlet = Outlet.objects.filter(code=req.outlet.strip()).first()
        if outlet is None or (district is not None and outlet.district_id != district.code):
            errors.add("outlet", "outlet_invalid", _("Choose a pharmacy in the district you selected."))
        elif outlet.status != Outlet.Status.OPEN:
            errors.add("outlet", "outlet_closed", _("This pharmacy is not taking part today; choose another one."))
    elif not req.accept_any:
        errors.add("outlet", "outlet_required",
                   _("Choose a pharmacy, or tick 'any pharmacy in my district' (服从分配)."))
    if not req.consent:
        errors.add("consent", "consent_required",
                   _("Read the personal-information notice and tick the box to agree; we cannot register you "
                     "without it."))
    errors.raise_if_any()
    assert district is not None
    return PersonInput(id_number=values["id_number"], phone=values["phone"], name=values["name"]), district, outlet


def _check_open(campaign: Campaign, now: dt.datetime) -> None:
    if campaign.status != Campaign.Status.ACTIVE:
        raise Conflict(_("This campaign is not taking registrations."), code="campaign_closed")
    local = campaign_selectors.local_now(campaign, now)
    if local.date() < campaign.starts_on or (campaign.ends_on and local.date() > campaign.ends_on):
        raise Conflict(_("Registration is closed: this campaign runs from %(start)s to %(end)s.") % {
            "start": campaign.starts_on, "end": campaign.ends_on or "…"}, code="campaign_closed")
    if campaign_selectors.in_maintenance(campaign, now):
        raise Conflict(_("Registration is closed for nightly maintenance from %(start)s to %(end)s. "
                         "Please come back after %(end)s.") % {
            "start": campaign.maintenance_start.strftime("%H:%M") if campaign.maintenance_start else "",
            "end": campaign.maintenance_end.strftime("%H:%M") if campaign.maintenance_end else ""},
            code="maintenance", status=503)


def _check_eligible(campaign: Campaign, idx: str) -> None:
    list_ids = list(campaign.eligibility_lists.values_list("pk", flat=True))
    if list_ids and not eligible_lists(id_idx=idx, list_ids=list_ids):
        where = campaign.appeal_info or _("the campaign's hotline")
        raise PermissionDenied(
            _("This ID number is not on the lists this campaign is open to (%(lists)s). If you think it should "
              "be, appeal to: %(where)s") % {
                "lists": "、".join(campaign.eligibility_lists.values_list("name", flat=True)), "where": where},
            code="not_eligible", field="id_number")


def _check_cooldown(campaign: Campaign, person: Person, round_: Round) -> None:
    if not campaign.cooldown_days:
        return
    since = round_.draw_date - dt.timedelta(days=campaign.cooldown_days)
    won = Registration.objects.filter(campaign=campaign, person=person, status=Registration.Status.WON,
                                      round__draw_date__gt=since, round__draw_date__lte=round_.draw_date)
    last = won.order_by("-round__draw_date").values_list("round__draw_date", flat=True).first()
    if last is not None:
        raise Conflict(_("You won on %(day)s; winners can register again after %(next)s.") % {
            "day": last, "next": last + dt.timedelta(days=campaign.cooldown_days)}, code="in_cooldown")


def _new_number() -> str:
    return random_code(REGISTRATION_NUMBER_LENGTH)


def registration_create(*, campaign: Campaign, request: RegistrationRequest,
                        channel: str = Registration.Channel.WEB, now: dt.datetime | None = None) -> Registration:
    """Register a resident for the campaign's current round. Raises ``DomainError`` subclasses with a stable
    code; the unique constraint (round, person) is the backstop against double registration."""
    now = now or timezone.now()
    _check_open(campaign, now)
    person_input, district, outlet = _parse(campaign, request)
    idx = id_index(person_input.id_number)
    _check_eligible(campaign, idx)
    round_ = round_for_registration(campaign=campaign, now=now)
    try:
        with transaction.atomic():
            person = person_upsert(data=person_input)
            if Registration.objects.filter(round=round_, person=person).exists():
                raise IntegrityError("one_registration_per_person_round")
            # A shared lock: registrations don't wait for each other, but draw_commit's exclusive lock waits
            # for every registration in flight, so none can slip in after the entries are frozen.
            lock_shared(Round, round_.pk)
            locked = Round.objects.get(pk=round_.pk)
            if locked.state != Round.State.OPEN:
                raise Conflict(_("Today's draw has just started; please register again in a minute for the "
                                 "next one."), code="round_closed")
            _check_cooldown(campaign, person, locked)
            reg = Registration.objects.create(
                campaign=campaign, round=locked, person=person, number=_new_number(),
                entry_id=secrets.token_hex(16), district=district, outlet=outlet,
                accept_any=request.accept_any or outlet is None, channel=channel,
                consent_version=campaign.consent_version, consent_at=now)
            log_action("allot.registration.created", obj=reg, actor_label=f"resident/{channel}",
                       data={"round": str(locked.draw_date), "district": district.code,
                             "outlet": outlet.code if outlet else None, "accept_any": reg.accept_any,
                             "consent_version": campaign.consent_version})
    except IntegrityError:
        raise Conflict(_("This ID number is already registered for this draw. Check your status with your "
                         "registration number."), code="already_registered", field="id_number") from None
    return reg


def registration_lookup(*, number: str, id_number: str) -> Registration:
    """Look a registration up by its number *and* the ID number it was made with (never by ID alone)."""
    from allot.core.codes import normalize_code

    try:
        canonical = validation.normalize_id_number(id_number)
    except DomainError:
        canonical = ""
    reg = (Registration.objects.select_related("round", "campaign", "outlet", "allocated_outlet", "district",
                                               "person")
           .filter(number=normalize_code(number)).first())
    if reg is None or not canonical or reg.person.id_index != id_index(canonical):
        raise NotFound(_("No registration matches this registration number and ID number. Check both and try "
                         "again."), code="registration_not_found")
    return reg


def registration_withdraw(*, registration: Registration) -> Registration:
    with transaction.atomic():
        reg = Registration.objects.select_for_update().get(pk=registration.pk)
        if reg.status != Registration.Status.REGISTERED or reg.round.state != Round.State.OPEN:
            raise Conflict(_("Only a registration that has not been drawn yet can be withdrawn."),
                           code="cannot_withdraw")
        reg.status = Registration.Status.WITHDRAWN
        reg.save(update_fields=["status", "updated_at"])
        log_action("allot.registration.withdrawn", obj=reg, actor_label="resident")
    return reg
