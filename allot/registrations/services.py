"""Writes for registrations."""

from __future__ import annotations

import datetime as dt
import enum
import json
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.campaigns import selectors as campaign_selectors
from allot.campaigns.models import Campaign, Round
from allot.campaigns.selectors import draw_moment
from allot.campaigns.services import round_for_registration
from allot.core.audit import log_action
from allot.core.codes import random_code
from allot.core.errors import Conflict, DomainError, ErrorCollector, PermissionDenied
from allot.core.locking import lock_shared
from allot.identity import crypto, validation
from allot.identity.models import Person
from allot.identity.selectors import eligible_lists
from allot.identity.services import PersonInput, id_index, person_upsert, phone_index
from allot.places.models import Division, Outlet
from allot.registrations import notices
from allot.registrations.models import Registration
from allot.registrations.selectors import HEALTH_CONTEXT, registration_latest_of
from allot.verification.models import OneTimeCode, SmsMessage
from allot.verification.otp import otp_issue, otp_verify
from allot.verification.proof import proof_verify
from allot.verification.ratelimit import Client, rate_count, rate_limit
from allot.verification.sms import Recipient, sms_queue, sms_queue_dummy

REGISTRATION_NUMBER_LENGTH = 10
HEALTH_LOOKBACK_DAYS = 14
HEALTH_FIELDS = ("health_returned", "health_return_date", "health_symptoms")


@dataclass(frozen=True)
class HealthAnswers:
    """The health declaration, asked only when ``campaign.ask_health``: returned to the city from elsewhere in
    the last 14 days (and when), fever or cough now."""

    returned: bool | None = None
    return_date: str = ""
    symptoms: bool | None = None


@dataclass(frozen=True)
class RegistrationRequest:
    """What a resident typed, unparsed: every channel hands this to ``registration_submit`` (residents) or
    ``registration_create`` (desk, demo). ``health`` is None when the channel received no health field at all.
    ``consent`` is the older name of ``consent_id``, kept for desk and demo callers."""

    name: str
    id_number: str
    phone: str
    district: str
    outlet: str = ""
    accept_any: bool = False
    consent: bool = False
    consent_id: bool = False
    consent_health: bool = False
    health: HealthAnswers | None = None


@dataclass(frozen=True)
class _Parsed:
    person: PersonInput
    district: Division
    outlet: Outlet | None
    health: dict[str, object] | None


def _parse_health(campaign: Campaign, req: RegistrationRequest, errors: ErrorCollector,
                  now: dt.datetime) -> dict[str, object] | None:
    if not campaign.ask_health:
        if req.health is not None:
            errors.add("health", "unexpected_field", _("This campaign does not ask health questions: remove them."))
        if req.consent_health:
            errors.add("consent_health", "unexpected_field",
                       _("This campaign does not ask health questions: remove the health consent."))
        return None
    h = req.health or HealthAnswers()
    if h.returned is None:
        errors.add("health_returned", "health_returned_required",
                   _("Say whether you came back to the city from elsewhere in the last 14 days."))
    return_date: dt.date | None = None
    if h.returned and not (h.return_date or "").strip():
        errors.add("health_return_date", "health_return_date_required", _("Enter the day you came back."))
    elif h.returned:
        today = campaign_selectors.local_now(campaign, now).date()
        try:
            return_date = dt.date.fromisoformat(h.return_date.strip())
        except ValueError:
            return_date = None
        if return_date is None or not today - dt.timedelta(days=HEALTH_LOOKBACK_DAYS) <= return_date <= today:
            errors.add("health_return_date", "health_return_date_invalid",
                       _("Enter a day within the last 14 days, as YYYY-MM-DD."))
    elif h.returned is False and (h.return_date or "").strip():
        errors.add("health_return_date", "unexpected_field",
                   _("Give a return date only if you came back in the last 14 days."))
    if h.symptoms is None:
        errors.add("health_symptoms", "health_symptoms_required", _("Say whether you have a fever or a cough."))
    if not req.consent_health:
        errors.add("consent_health", "consent_health_required",
                   _("Read how your health answers are used and tick the box to agree; we cannot register you "
                     "without it."))
    return {"returned": bool(h.returned), "return_date": return_date.isoformat() if return_date else None,
            "symptoms": bool(h.symptoms)}


def _parse(campaign: Campaign, req: RegistrationRequest, now: dt.datetime) -> _Parsed:
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
    health = _parse_health(campaign, req, errors, now)
    if not (req.consent_id or req.consent):
        errors.add("consent_id", "consent_id_required",
                   _("Read how your ID number is used and tick the box to agree; we cannot register you "
                     "without it."))
    errors.raise_if_any()
    assert district is not None
    return _Parsed(PersonInput(id_number=values["id_number"], phone=values["phone"], name=values["name"]),
                   district, outlet, health)


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


def _eligible(campaign: Campaign, idx: str) -> bool:
    list_ids = list(campaign.eligibility_lists.values_list("pk", flat=True))
    return not list_ids or bool(eligible_lists(id_idx=idx, list_ids=list_ids))


def _list_names(campaign: Campaign) -> str:
    return "、".join(campaign.eligibility_lists.values_list("name", flat=True))


def _cooldown_last_win(campaign: Campaign, person: Person, round_: Round) -> dt.date | None:
    if not campaign.cooldown_days:
        return None
    since = round_.draw_date - dt.timedelta(days=campaign.cooldown_days)
    won = Registration.objects.filter(campaign=campaign, person=person, status=Registration.Status.WON,
                                      round__draw_date__gt=since, round__draw_date__lte=round_.draw_date)
    last: dt.date | None = won.order_by("-round__draw_date").values_list("round__draw_date", flat=True).first()
    return last


def _new_number() -> str:
    return random_code(REGISTRATION_NUMBER_LENGTH)


class Outcome(enum.Enum):
    CREATED = "created"
    ALREADY_REGISTERED = "already_registered"
    IN_COOLDOWN = "in_cooldown"
    NOT_ELIGIBLE = "not_eligible"


@dataclass(frozen=True)
class Attempt:
    """What a registration attempt came to. Only the person may learn it (by SMS); see ``registration_submit``."""

    outcome: Outcome
    round: Round
    phone: str                            # normalised phone as typed
    registration: Registration | None = None
    person: Person | None = None          # the person on file (after the attempt)
    previous_phone: Recipient | None = None  # phone on file before a CREATED attempt changed it
    last_win: dt.date | None = None


class _Refused(Exception):
    def __init__(self, outcome: Outcome, last_win: dt.date | None = None) -> None:
        super().__init__(outcome.value)
        self.outcome, self.last_win = outcome, last_win


def _attempt(campaign: Campaign, request: RegistrationRequest, channel: str, now: dt.datetime,
             notify: bool, parsed: _Parsed | None = None) -> Attempt:
    """Validate and try to register. Raises ``DomainError`` only for what is the same for everyone (campaign
    closed, maintenance, round closed, field errors); the personal outcomes come back as ``Attempt.outcome``.
    With ``notify`` the confirmation SMS is queued in the registration's own transaction."""
    if parsed is None:
        _check_open(campaign, now)
        parsed = _parse(campaign, request, now)
    idx = id_index(parsed.person.id_number)
    round_ = round_for_registration(campaign=campaign, now=now)
    if not _eligible(campaign, idx):
        return Attempt(Outcome.NOT_ELIGIBLE, round_, parsed.person.phone)
    before = Person.objects.filter(id_index=idx).first()
    previous = Recipient.of_person(before) if before is not None else None
    health_consent = parsed.health is not None
    try:
        with transaction.atomic():
            person = person_upsert(data=parsed.person)
            if Registration.objects.filter(round=round_, person=person).exists():
                raise IntegrityError("one_registration_per_person_round")
            # A shared lock: registrations don't wait for each other, but draw_commit's exclusive lock waits
            # for every registration in flight, so none can slip in after the entries are frozen.
            lock_shared(Round, round_.pk)
            locked = Round.objects.get(pk=round_.pk)
            if locked.state != Round.State.OPEN:
                raise Conflict(_("Today's draw has just started; please register again in a minute for the "
                                 "next one."), code="round_closed")
            last_win = _cooldown_last_win(campaign, person, locked)
            if last_win is not None:
                raise _Refused(Outcome.IN_COOLDOWN, last_win)
            reg = Registration.objects.create(
                campaign=campaign, round=locked, person=person, number=_new_number(),
                entry_id=secrets.token_hex(16), district=parsed.district, outlet=parsed.outlet,
                accept_any=request.accept_any or parsed.outlet is None, channel=channel,
                consent_version=campaign.consent_version, consent_at=now,
                consent_health_version=campaign.consent_version if health_consent else "",
                consent_health_at=now if health_consent else None,
                health_sealed=(crypto.seal(json.dumps(parsed.health, sort_keys=True), context=HEALTH_CONTEXT)
                               if parsed.health is not None else ""))
            log_action("allot.registration.created", obj=reg, actor_label=f"resident/{channel}",
                       data={"round": str(locked.draw_date), "district": parsed.district.code,
                             "outlet": parsed.outlet.code if parsed.outlet else None, "accept_any": reg.accept_any,
                             "consent_version": campaign.consent_version, "health_declared": health_consent})
            if notify:
                sms_queue(recipient=Recipient.of_person(person), purpose=SmsMessage.Purpose.RESULT,
                          text=notices.registered(campaign, number=reg.number, draw_at=draw_moment(locked)))
    except IntegrityError:
        return Attempt(Outcome.ALREADY_REGISTERED, round_, parsed.person.phone,
                       registration=Registration.objects.filter(round=round_, person__id_index=idx).first(),
                       person=Person.objects.get(id_index=idx))
    except _Refused as refused:
        return Attempt(refused.outcome, round_, parsed.person.phone, person=Person.objects.get(id_index=idx),
                       last_win=refused.last_win)
    changed = previous if previous is not None and previous.phone_index != person.phone_index else None
    return Attempt(Outcome.CREATED, locked, parsed.person.phone, registration=reg, person=person,
                   previous_phone=changed)


def registration_create(*, campaign: Campaign, request: RegistrationRequest,
                        channel: str = Registration.Channel.WEB, now: dt.datetime | None = None) -> Registration:
    """Register a resident for the campaign's current round and say synchronously what happened, for the
    committee desk, the demo and tests, where the person is present or synthetic. Residents on their own
    channels go through ``registration_submit``, which never says it in the response. Raises
    ``DomainError`` subclasses with a stable code; the unique constraint (round, person) is the backstop
    against double registration."""
    now = now or timezone.now()
    attempt = _attempt(campaign, request, channel, now, notify=False)
    if attempt.outcome is Outcome.NOT_ELIGIBLE:
        raise PermissionDenied(
            _("This ID number is not on the lists this campaign is open to (%(lists)s). If you think it should "
              "be, appeal to: %(where)s") % {
                "lists": _list_names(campaign), "where": campaign.appeal_info or _("the campaign's hotline")},
            code="not_eligible", field="id_number")
    if attempt.outcome is Outcome.IN_COOLDOWN:
        assert attempt.last_win is not None
        raise Conflict(_("You won on %(day)s; winners can register again after %(next)s.") % {
            "day": attempt.last_win, "next": attempt.last_win + dt.timedelta(days=campaign.cooldown_days)},
            code="in_cooldown")
    if attempt.outcome is Outcome.ALREADY_REGISTERED:
        raise Conflict(_("This ID number is already registered for this draw. Check your status with your "
                         "registration number."), code="already_registered", field="id_number")
    assert attempt.registration is not None
    return attempt.registration


@dataclass(frozen=True)
class RegistrationReceipt:
    """The answer to every accepted registration attempt, whatever it came to: the same fields, filled from
    what the client sent and from the campaign, never from what is on file."""

    campaign_slug: str
    draw_date: dt.date
    draw_at: dt.datetime
    phone_masked: str     # the phone as typed, masked: where a new registrant's confirmation goes


def _sms_allowed(recipient: Recipient) -> bool:
    """Per-phone send limit, enforced silently (a refusal would tell whether the phone is on file)."""
    return not rate_count(scope="sms_phone", keys={"phone": recipient.phone_index})


def _tell(recipient: Recipient, purpose: str, text: str) -> None:
    if _sms_allowed(recipient):
        sms_queue(recipient=recipient, purpose=purpose, text=text)
    else:
        sms_queue_dummy(text=text)


def registration_submit(*, campaign: Campaign, request: RegistrationRequest, proof: str, client: Client,
                        channel: str = Registration.Channel.WEB, now: dt.datetime | None = None
                        ) -> RegistrationReceipt:
    """A resident registers (web page, app). The response does not say whether the ID number was new, already
    registered, in its cooldown or not eligible: every such attempt gets the same ``RegistrationReceipt``, and
    the outcome goes by SMS -

    * new: the registration number to the phone typed (now the phone on file); if that replaced another phone
      on file, a notice to the previous phone;
    * already registered / in cooldown: the answer to the phone on file, and, when a different phone was
      typed, a note to it that the answer went to the phone on file;
    * not eligible: to the phone typed, with where to appeal (nobody else can be told: the eligibility lists
      hold no phones). This tells the holder of that phone that the ID number is not eligible; it costs a real
      phone per few probes (send limits) and a solved proof of work per attempt. See docs/privacy-resident.md.

    What is the same for everyone stays synchronous: field errors, campaign closed, maintenance, round closed,
    and the abuse controls (proof of work, rate limits by client, ID number and phone)."""
    now = now or timezone.now()
    _check_open(campaign, now)
    proof_verify(payload=proof, purpose="register")
    rate_limit(scope="register", keys={"ip": client.ip, "session": client.session})
    parsed = _parse(campaign, request, now)
    rate_limit(scope="register", keys={"id": id_index(parsed.person.id_number),
                                       "phone": phone_index(parsed.person.phone)})
    attempt = _attempt(campaign, request, channel, now, notify=True, parsed=parsed)
    typed = Recipient.of_phone(attempt.phone)
    if attempt.outcome is Outcome.CREATED and attempt.previous_phone is not None:
        _tell(attempt.previous_phone, SmsMessage.Purpose.ALERT,
              notices.phone_changed(campaign, at=now, new_phone_masked=typed.phone_masked))
    elif attempt.outcome is Outcome.NOT_ELIGIBLE:
        _tell(typed, SmsMessage.Purpose.RESULT, notices.not_eligible(campaign, lists=_list_names(campaign)))
    elif attempt.outcome in (Outcome.ALREADY_REGISTERED, Outcome.IN_COOLDOWN):
        assert attempt.person is not None
        on_file = Recipient.of_person(attempt.person)
        if attempt.outcome is Outcome.ALREADY_REGISTERED:
            number = attempt.registration.number if attempt.registration else ""
            text = notices.already_registered(campaign, number=number, at=now,
                                              typed_phone_masked=typed.phone_masked)
        else:
            assert attempt.last_win is not None
            text = notices.in_cooldown(campaign, last_win=attempt.last_win,
                                       again=attempt.last_win + dt.timedelta(days=campaign.cooldown_days))
        _tell(on_file, SmsMessage.Purpose.ALERT, text)
        if on_file.phone_index != typed.phone_index:
            _tell(typed, SmsMessage.Purpose.RESULT, notices.sent_to_phone_on_file(campaign))
    log_action("allot.registration.submitted", actor_label=f"resident/{channel}",
               data={"campaign": campaign.slug, "round": str(attempt.round.draw_date)})
    return RegistrationReceipt(campaign_slug=campaign.slug, draw_date=attempt.round.draw_date,
                               draw_at=draw_moment(attempt.round), phone_masked=typed.phone_masked)


# --- the resident's own record: one-time code to the phone on file -------------------------------------------

@dataclass(frozen=True)
class CodeSent:
    """The same for every ID number: a token to send back with the code, and when the code expires."""

    token: str
    expires_at: dt.datetime


def status_code_send(*, campaign: Campaign, id_number: str, proof: str, client: Client,
                     now: dt.datetime | None = None) -> CodeSent:
    """Send a one-time code to the phone on file for ``id_number``, if there is one. The answer, and the work
    done to give it, are the same for an ID number nobody registered (see ``otp_issue``)."""
    now = now or timezone.now()
    proof_verify(payload=proof, purpose="status_code")
    rate_limit(scope="status_code", keys={"ip": client.ip, "session": client.session})
    canonical = validation.normalize_id_number(id_number)
    idx = id_index(canonical)
    rate_limit(scope="status_code", keys={"id": idx})
    person = Person.objects.filter(id_index=idx).first()
    send = _sms_allowed(Recipient.of_person(person)) if person is not None else not rate_count(
        scope="sms_phone", keys={"phone": idx})  # the same counter work for nobody
    with transaction.atomic():
        row = otp_issue(purpose=OneTimeCode.Purpose.STATUS, scope=campaign.slug, person=person, send=send,
                        text=lambda code: notices.one_time_code(campaign, code=code), now=now)
    return CodeSent(token=row.token, expires_at=row.expires_at)


@dataclass(frozen=True)
class OwnRecord:
    person: Person
    registration: Registration | None   # the latest in the campaign, None if the person has none there


def status_code_verify(*, campaign: Campaign, token: str, code: str, client: Client,
                       now: dt.datetime | None = None) -> OwnRecord:
    """The resident's own record once the code is right, or ``DomainError`` (code_invalid, code_expired,
    code_attempts_exceeded, rate_limited). Opening it is audited."""
    rate_limit(scope="code_verify", keys={"ip": client.ip, "session": client.session})
    person = otp_verify(token=token, code=code, purpose=OneTimeCode.Purpose.STATUS, scope=campaign.slug, now=now)
    log_action("allot.registration.status_opened", obj=person, actor_label="resident/otp",
               data={"campaign": campaign.slug})
    return OwnRecord(person, registration_latest_of(campaign=campaign, person_pk=person.pk))


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
