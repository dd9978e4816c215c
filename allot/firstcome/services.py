"""Writes for first-come campaigns: claims, quotas, the Redis counters, units returned by undeliverable parcels.

A claim is accepted only if its area has a unit left and the person has no claim that day, atomically, and is
committed before the resident is told yes:

* Database path (SQLite, or PostgreSQL without Redis): one transaction inserts the claim (the unique
  constraint (campaign, day, person) refuses a second one) and then runs
  ``UPDATE quota SET taken = taken + 1 WHERE id = … AND taken < units``; no row updated = sold out = rollback.
  The UPDATE comes last so the hot row is locked only until the commit. On SQLite, whose single writer
  makes every other connection sleep in its busy handler, writers of one process queue on a lock instead.
* Redis path (``REDIS_URL``): ``store.take`` (one Lua script: day loaded? person already in? unit left?
  decrement and remember) answers the surge; only the requests it lets through run the same database
  transaction, which still decides. If the database says no, the unit goes back to Redis. Redis down → 503
  ``temporarily_unavailable``; a claim is never accepted without both checks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from allot.campaigns.models import Campaign
from allot.campaigns.selectors import local_now
from allot.core.audit import audit_entry, log_action
from allot.core.codes import random_code
from allot.core.conf import setting
from allot.core.errors import Conflict, DomainError, ErrorCollector, PermissionDenied
from allot.core.locking import sqlite_write_queue
from allot.core.rows import instance, row_insert
from allot.core.types import Actor
from allot.delivery.addresses import Address, AddressInput, address_parse
from allot.delivery.services import parcel_build
from allot.firstcome import gate, selectors, store, writer
from allot.firstcome.models import CITY_SCOPE, Claim, Quota, QuotaPlan
from allot.identity import validation
from allot.identity.selectors import eligible_lists
from allot.identity.services import PersonInput, id_index, person_build, person_upsert_id
from allot.places.models import Division, Outlet
from allot.verification.proof import Solved, proof_once, proofs_redeem_counted, replayed_error
from allot.verification.ratelimit import rate_limited, rate_plan
from allot.verification.ratelimit import unavailable as rate_limit_unavailable

logger = logging.getLogger("allot.firstcome")
CLAIM_NUMBER_LENGTH = 10


@dataclass(frozen=True)
class ClaimRequest:
    """What a resident typed, unparsed. ``district`` is the address district for a delivery campaign."""

    name: str
    id_number: str
    phone: str
    district: str = ""
    outlet: str = ""
    street: str = ""
    committee: str = ""
    building: str = ""
    unit: str = ""
    room: str = ""
    line: str = ""
    consent: bool = False


@dataclass(frozen=True)
class _Parsed:
    person: PersonInput
    scope_key: str
    district_code: str | None
    outlet: Outlet | None
    address: Address | None


# --- errors ---------------------------------------------------------------------------------------------

def _hhmm(moment: dt.datetime) -> str:
    return f"{date_format(moment.date(), 'SHORT_DATE_FORMAT')} {moment:%H:%M}"


def sold_out_error(w: selectors.Window) -> Conflict:
    return Conflict(_("Today's units are all taken. The next ones are released at %(next)s.") % {
        "next": _hhmm(w.next_opens)}, code="sold_out")


def not_open_error(w: selectors.Window) -> Conflict:
    return Conflict(_("Claims open at %(opens)s. Please come back then.") % {"opens": _hhmm(w.opens)},
                    code="not_open_yet")


def closed_error() -> Conflict:
    return Conflict(_("This campaign is not taking claims."), code="campaign_closed")


def maintenance_error(campaign: Campaign) -> DomainError:
    return DomainError(_("Claims are closed for nightly maintenance until %(end)s.") % {
        "end": campaign.maintenance_end.strftime("%H:%M") if campaign.maintenance_end else ""},
        code="maintenance", status=503)


def unavailable_error() -> DomainError:
    return DomainError(_("The claim service is briefly unavailable. Nothing was taken; please try again in a "
                         "few seconds."), code="temporarily_unavailable", status=503)


def _already_error() -> Conflict:
    return Conflict(_("This ID number already has a claim today. Check it under “Check my claim” with your ID "
                      "number."),
                    code="already_claimed", field="id_number")


def window_check(campaign: Campaign, now: dt.datetime) -> selectors.Window:
    w = selectors.window(campaign, now)
    if w.state == "closed":
        raise closed_error()
    if w.state == "maintenance":
        raise maintenance_error(campaign)
    if w.state == "before_open":
        raise not_open_error(w)
    return w


# --- parsing --------------------------------------------------------------------------------------------

def _parse(campaign: Campaign, req: ClaimRequest) -> _Parsed:
    errors = ErrorCollector()
    values: dict[str, str] = {}
    for name, parser in (("name", validation.normalize_name), ("id_number", validation.normalize_id_number),
                         ("phone", validation.normalize_phone)):
        try:
            values[name] = parser(getattr(req, name))
        except DomainError as exc:
            errors.add(exc.field or name, exc.code, exc.message)
    address: Address | None = None
    district_code: str | None = None
    outlet: Outlet | None = None
    if campaign.fulfilment == Campaign.Fulfilment.DELIVERY:
        try:
            address = address_parse(city_code=campaign.city_id, data=AddressInput(
                district=req.district, street=req.street, committee=req.committee, building=req.building,
                unit=req.unit, room=req.room, line=req.line))
            district_code = address.district_code
        except DomainError as exc:
            for e in exc.errors:
                errors.add(e.field, e.code, e.message)
    elif campaign.quota_scope == Campaign.QuotaScope.DISTRICT:
        code = (req.district or "").strip()
        if Division.objects.filter(code=code, parent_id=campaign.city_id, level=Division.Level.DISTRICT).exists():
            district_code = code
        else:
            errors.add("district", "district_invalid", _("Choose a district of this campaign's city."))
    if campaign.quota_scope == Campaign.QuotaScope.OUTLET:
        outlet = (Outlet.objects.filter(code=(req.outlet or "").strip(), district__parent_id=campaign.city_id,
                                        status=Outlet.Status.OPEN).first())
        if outlet is None:
            errors.add("outlet", "outlet_invalid", _("Choose an open pharmacy of this campaign's city."))
    if not req.consent:
        errors.add("consent", "consent_required", _(
            "Read the personal-information notice and tick the box to agree; we cannot take your claim without "
            "it."))
    errors.raise_if_any()
    if campaign.quota_scope == Campaign.QuotaScope.OUTLET:
        assert outlet is not None
        scope_key = outlet.code
    elif campaign.quota_scope == Campaign.QuotaScope.DISTRICT:
        assert district_code is not None
        scope_key = district_code
    else:
        scope_key = CITY_SCOPE
    return _Parsed(person=PersonInput(id_number=values["id_number"], phone=values["phone"], name=values["name"]),
                   scope_key=scope_key, district_code=district_code, outlet=outlet, address=address)


def _check_eligible(campaign: Campaign, list_ids: tuple[int, ...], idx: str) -> None:
    if list_ids and not eligible_lists(id_idx=idx, list_ids=list_ids):
        where = campaign.appeal_info or _("the campaign's hotline")
        raise PermissionDenied(_("This ID number is not on the lists this campaign is open to. If you think it "
                                 "should be, appeal to: %(where)s") % {"where": where},
                               code="not_eligible", field="id_number")


# --- quotas ---------------------------------------------------------------------------------------------

def _plan_units(campaign: Campaign, scope_key: str) -> int | None:
    plan = QuotaPlan.objects.filter(campaign=campaign, scope_key=scope_key).values_list("units_per_day",
                                                                                        flat=True).first()
    if plan is None and scope_key == CITY_SCOPE:
        return campaign.daily_quota
    return plan


def quota_get_or_create(*, campaign: Campaign, day: dt.date, scope_key: str) -> Quota | None:
    """The day's quota row of an area, created from the plan the first time it is needed; None without a plan."""
    q = Quota.objects.filter(campaign=campaign, day=day, scope_key=scope_key).first()
    if q is not None:
        return q
    units = _plan_units(campaign, scope_key)
    if units is None:
        return None
    try:
        # the first claims of a day create the row while other processes' claim writers are busy: on SQLite it
        # takes its turn with them (a write outside the queue waited up to ~2 s in SQLite's sleeping busy
        # handler at the opening, bench/README.md); the row and its audit entry in one transaction
        with sqlite_write_queue(), transaction.atomic():
            q = Quota.objects.create(campaign=campaign, day=day, scope_key=scope_key, units=units)
            log_action("allot.firstcome.quota_opened", obj=q, data={"day": day.isoformat(), "scope": scope_key,
                                                                    "units": units})
    except IntegrityError:
        return Quota.objects.get(campaign=campaign, day=day, scope_key=scope_key)
    return q


def _quota_id(campaign: Campaign, day: dt.date, scope_key: str) -> int:
    qid = selectors.quota_id_cached(campaign.pk, day, scope_key)
    if qid is None:
        q = quota_get_or_create(campaign=campaign, day=day, scope_key=scope_key)
        if q is None:
            raise Conflict(_("No units are released for this area today."), code="no_quota")
        qid = q.pk
        selectors.quota_id_remember(campaign.pk, day, scope_key, qid)
    return qid


def quota_plan_set(*, campaign: Campaign, scope_key: str, units_per_day: int, actor: Actor = None) -> QuotaPlan:
    plan, _created = QuotaPlan.objects.update_or_create(campaign=campaign, scope_key=scope_key,
                                                        defaults={"units_per_day": units_per_day})
    log_action("allot.firstcome.plan_set", obj=plan, actor=actor, data={"scope": scope_key,
                                                                       "units_per_day": units_per_day})
    return plan


def quota_set(*, campaign: Campaign, day: dt.date, scope_key: str, units: int, actor: Actor = None) -> Quota:
    """Set an area's units for a day (never below what is already taken). The Redis counter is dropped so the
    next claim reloads it, and the sold-out flags of the area are cleared."""
    with transaction.atomic():
        q, _created = Quota.objects.get_or_create(campaign=campaign, day=day, scope_key=scope_key,
                                                  defaults={"units": units})
        q = Quota.objects.select_for_update().get(pk=q.pk)
        if units < q.taken:
            raise Conflict(_("%(taken)s units are already taken; the quota cannot be lower.") % {"taken": q.taken},
                           code="quota_below_taken", field="units")
        q.units = units
        q.save(update_fields=["units"])
        log_action("allot.firstcome.quota_set", obj=q, actor=actor, data={"day": day.isoformat(),
                                                                         "scope": scope_key, "units": units})
        transaction.on_commit(lambda: _after_units_change(campaign, day, scope_key, q.pk))
    return q


def _after_units_change(campaign: Campaign, day: dt.date, scope_key: str, quota_id: int) -> None:
    gate.clear_sold_out(slug=campaign.slug, day=day, scope_key=scope_key)
    if store.enabled():
        try:
            store.area_forget(campaign_id=campaign.pk, day=day, quota_id=quota_id)
        except store.StoreUnavailable:
            logger.warning("quota %s changed but Redis is unavailable; it reloads when the day is rebuilt", quota_id)


def _plan_areas(campaign: Campaign) -> set[str]:
    return set(QuotaPlan.objects.filter(campaign=campaign).values_list("scope_key", flat=True))


def _whole_sold_out(campaign: Campaign, day: dt.date) -> bool:
    if campaign.quota_scope == Campaign.QuotaScope.CITY:
        return True
    areas = _plan_areas(campaign)
    sold = set(Quota.objects.filter(campaign=campaign, day=day, taken__gte=F("units"))
               .values_list("scope_key", flat=True))
    return bool(areas) and areas <= sold


def _mark_sold_out(campaign: Campaign, day: dt.date, scope_key: str) -> None:
    gate.mark_sold_out(slug=campaign.slug, day=day, scope_key=scope_key,
                       whole_campaign=_whole_sold_out(campaign, day))


def sold_out_recheck(*, slug: str, day: dt.date, now: dt.datetime | None = None) -> bool:
    """Whether every area of campaign ``slug`` is still sold out on ``day``, asked of the record (the units left
    as claims are checked against them: Redis when it has the day, else the database); if so, the whole-campaign
    flag is set again. False when the campaign is not open on ``day`` any more, has no quota row that day, or
    has a unit left. For a process that knew the campaign sold out today and whose flags have since lapsed: the
    claim lane, which would otherwise tell residents "busy, come back" (bench/README.md, thirteenth session)."""
    try:
        campaign = selectors.claim_campaign(slug=slug).campaign
    except DomainError:
        return False
    w = selectors.window(campaign, now or timezone.now())
    if w.state != "open" or w.day != day:
        return False
    left = selectors.remaining(campaign=campaign, day=day, warm=False)   # not the gazetteer: refusals wait
    if not left.by_scope or left.left > 0:
        return False
    if campaign.quota_scope != Campaign.QuotaScope.CITY:   # an area without its row today has not sold out
        areas = _plan_areas(campaign)
        if not areas or not areas <= left.by_scope.keys():
            return False
    gate.mark_sold_out(slug=slug, day=day, scope_key=gate.WHOLE)
    return True


def sold_out_refresh(*, slug: str, now: dt.datetime | None = None) -> bool:
    """For a process still telling a crowd that campaign ``slug`` is sold out from its flag and the answer it kept,
    shortly before the flag lapses: ask the record now (``sold_out_recheck``, for the campaign's open day), so
    that while it stays sold out the flag is set again before it lapses, and no claim has to reach the writer to
    learn it again — the moment the lane, starting again from its floor, answered some of the crowd "busy, come
    back" (bench/README.md, fifteenth session). False (and the sell-out forgotten) once the record shows a unit
    left, or when the campaign is not open; the flag then lapses as before."""
    try:
        campaign = selectors.claim_campaign(slug=slug).campaign
    except DomainError:
        return False
    w = selectors.window(campaign, now or timezone.now())
    if w.state != "open":
        return False
    still = sold_out_recheck(slug=slug, day=w.day, now=now)
    if not still:
        gate.whole_sold_out_forget(slug=slug, day=w.day)
    return still


class _Recheck:
    """One look at the record in flight, shared by the threads that wait for it (``sold_out_recheck_shared``)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.still = False


_rechecks: dict[str, _Recheck] = {}
_rechecks_lock = threading.Lock()


def sold_out_recheck_shared(*, slug: str, wait: float, wait_unseen: float | None = None) -> bool:
    """``sold_out_recheck`` for refusals made in threads (config/wsgi.py's admission, with no claim lane in
    front): whether campaign ``slug`` is still sold out, asked only when this process learned it sold out
    (``gate.whole_sold_out_seen``) and its flag has since lapsed. One look at the record at a time per campaign:
    the refusals that meet it wait for its answer, at most ``wait`` seconds (then: False, "busy" as before). A
    record that shows a unit left makes the process forget the sell-out, and the refusals of the next
    ``gate.UNSOLD_QUIET`` seconds ask no more. A process that never learned of the sell-out asks too, for the
    campaign's open day, at most once per ``gate.UNSOLD_QUIET`` (the claim lane's ``_sold_out_again`` says why)."""
    day = seen = gate.whole_sold_out_seen(slug=slug)
    if day is None:
        if not gate.recheck_due(slug=slug):
            return False
        try:
            campaign = selectors.claim_campaign(slug=slug).campaign
        except DomainError:
            return False
        w = selectors.window(campaign, timezone.now())
        if w.state != "open":
            return False
        day = w.day
    if gate.is_sold_out(slug=slug, day=day, scope_key=gate.WHOLE):   # the flag holds (or its shared copy does)
        return True
    with _rechecks_lock:
        look = _rechecks.get(slug)
        mine = look is None
        if look is None:
            if not gate.recheck_due(slug=slug):
                return False
            look = _rechecks[slug] = _Recheck()
    if not mine:   # (a process that never learned of the sell-out waits ``wait_unseen``: the claim lane's reason)
        return look.done.wait(wait if seen is not None or wait_unseen is None else wait_unseen) and look.still
    try:
        look.still = sold_out_recheck(slug=slug, day=day)
        if not look.still:
            gate.recheck_found_units(slug=slug)
            if seen is not None:
                gate.whole_sold_out_forget(slug=slug, day=day)
    except Exception:   # a refusal must still be answered: "busy", as without the look
        logger.exception("the sold-out recheck of %s failed", slug)
    finally:
        with _rechecks_lock:
            _rechecks.pop(slug, None)
        look.done.set()
    return look.still


# --- the Redis counters ---------------------------------------------------------------------------------

def store_day_rebuild(*, campaign: Campaign, day: dt.date, wait: bool = True) -> bool:
    """Load a campaign day into Redis from the database (the record of truth): the people with a claim and
    the units left of every quota row. One process rebuilds (a Redis lock); the others wait for it."""
    def load() -> tuple[list[str], dict[int, int]]:
        people = list(Claim.objects.filter(campaign=campaign, day=day).values_list("person__id_index", flat=True))
        left = {pk: units - taken for pk, units, taken in
                Quota.objects.filter(campaign=campaign, day=day).values_list("pk", "units", "taken")}
        return people, left

    rebuilt = store.day_rebuild(campaign_id=campaign.pk, day=day, load=load, wait=wait)
    if rebuilt:
        logger.info("first-come counters of %s %s rebuilt from the database", campaign.slug, day)
    return rebuilt


def _take_in_redis(campaign: Campaign, w: selectors.Window, quota_id: int, scope_key: str, person: str,
                   first: int | None = None) -> None:
    """``store.take`` until it answers (a day or an area not loaded is loaded first); ``first``: the answer of a
    take already made (``store.take_batch``)."""
    for _attempt in range(3):
        if first is not None:
            result, first = first, None
        else:
            result = store.take(campaign_id=campaign.pk, day=w.day, quota_id=quota_id, person=person)
        if result == store.TAKEN:
            return
        if result == store.ALREADY:
            raise _already_error()
        if result == store.SOLD_OUT:
            _mark_sold_out(campaign, w.day, scope_key)
            raise sold_out_error(w)
        if result == store.DAY_NOT_LOADED:
            store_day_rebuild(campaign=campaign, day=w.day)
        elif result == store.AREA_NOT_LOADED:
            q = Quota.objects.filter(pk=quota_id).values_list("units", "taken").first()
            if q is None:
                raise unavailable_error()
            store.area_load(campaign_id=campaign.pk, day=w.day, quota_id=quota_id, units_left=q[0] - q[1])
    raise unavailable_error()


# --- claims ---------------------------------------------------------------------------------------------

class _SoldOut(Exception):
    pass


_sqlite_writer = threading.Lock()


@contextlib.contextmanager
def _one_writer() -> Iterator[None]:
    if connection.vendor == "sqlite":
        with _sqlite_writer:
            yield
    else:
        yield


def _claim_build(campaign: Campaign, w: selectors.Window, quota_id: int, parsed: _Parsed, channel: str,
                 now: dt.datetime) -> Claim:
    """The unsaved claim row (its person is set by whoever writes it)."""
    outlet = parsed.outlet
    return instance(Claim, {
        "campaign_id": campaign.pk, "quota_id": quota_id, "day": w.day, "number": random_code(CLAIM_NUMBER_LENGTH),
        "scope_key": parsed.scope_key, "district_id": parsed.district_code,
        "outlet_id": outlet.pk if outlet is not None else None, "units": campaign.units_per_winner,
        "channel": channel, "consent_version": campaign.consent_version, "consent_at": now},
        related={"campaign": campaign, "outlet": outlet} if outlet is not None else {"campaign": campaign})


def _audit_data(campaign: Campaign, w: selectors.Window, quota_id: int, parsed: _Parsed) -> dict[str, object]:
    return {"day": w.day.isoformat(), "scope": parsed.scope_key, "quota": quota_id,
            "consent_version": campaign.consent_version}


def _write(campaign: Campaign, w: selectors.Window, quota_id: int, parsed: _Parsed, idx: str, channel: str,
           now: dt.datetime) -> Claim:
    """The record of truth: person, claim, parcel, audit row and the unit, in one transaction of five statements
    (hand-written SQL through ``core.rows``: the ORM's compilation cost more than the database here). The
    unique constraints and ``quota_not_oversold`` decide, as before."""
    try:
        with _one_writer(), transaction.atomic():
            claim = _claim_build(campaign, w, quota_id, parsed, channel, now)
            claim.person_id = person_upsert_id(data=parsed.person)
            row_insert(claim)
            if parsed.address is not None:
                row_insert(parcel_build(claim=claim, address=parsed.address))
            row_insert(audit_entry("allot.firstcome.claim_accepted", obj=claim, actor_label=f"resident/{channel}",
                                   data=_audit_data(campaign, w, quota_id, parsed)))
            if not _unit_take(quota_id):
                raise _SoldOut
    except IntegrityError:
        if Claim.objects.filter(campaign=campaign, day=w.day, person__id_index=idx).exists():
            raise _already_error() from None
        raise
    return claim


def _unit_take(quota_id: int) -> bool:
    """``UPDATE quota SET taken = taken + 1 WHERE id = … AND taken < units``: False when no unit is left. Last in
    the transaction, so the hot row stays locked only until the commit."""
    with connection.cursor() as cursor:
        cursor.execute(_UNIT_TAKE, [quota_id])
        return cursor.rowcount == 1


_UNIT_TAKE = f"UPDATE {Quota._meta.db_table} SET taken = taken + 1 WHERE id = %s AND taken < units"  # noqa: S608 (table name)


@dataclass(frozen=True)
class ClaimPlan:
    """A claim checked up to the unit: window open, fields valid, person eligible, area not flagged sold out,
    its quota row known (``claim_plan``); ``claim_finish`` takes the unit and writes it."""

    campaign: Campaign
    window: selectors.Window
    parsed: _Parsed
    idx: str
    quota_id: int
    channel: str
    now: dt.datetime


def claim_plan(*, campaign: Campaign, request: ClaimRequest, channel: str = Claim.Channel.WEB,
               now: dt.datetime | None = None, list_ids: tuple[int, ...] | None = None) -> ClaimPlan:
    """The first half of ``claim_create``: everything but the unit. Raises its ``DomainError``s."""
    now = now or timezone.now()
    w = window_check(campaign, now)
    parsed = _parse(campaign, request)
    idx = id_index(parsed.person.id_number)
    if list_ids is None:
        list_ids = tuple(campaign.eligibility_lists.values_list("pk", flat=True))
    _check_eligible(campaign, list_ids, idx)
    if gate.is_sold_out(slug=campaign.slug, day=w.day, scope_key=parsed.scope_key):
        raise sold_out_error(w)
    return ClaimPlan(campaign=campaign, window=w, parsed=parsed, idx=idx,
                     quota_id=_quota_id(campaign, w.day, parsed.scope_key), channel=channel, now=now)


@dataclass(frozen=True)
class Count:
    """What a public channel counts before a claim's unit (``resident.claim_prepare``): the proof of work to
    redeem (None: the channel needs none) and the rate-limit keys of scope ``claim`` (kind → value)."""

    solved: Solved | None
    keys: dict[str, str]


def claim_job(*, plan: ClaimPlan, count: Count | None = None) -> writer.ClaimJob:
    """The rows of a planned claim, unsaved, as a job for the writer (``claim_run``, or the claim lane's
    ``claim_enqueue``): person, claim, parcel, and what to count before its unit."""
    campaign, w, parsed, quota_id, channel, now = (plan.campaign, plan.window, plan.parsed, plan.quota_id,
                                                   plan.channel, plan.now)
    claim = _claim_build(campaign, w, quota_id, parsed, channel, now)
    return writer.ClaimJob(
        person=person_build(data=parsed.person), claim=claim,
        parcel=parcel_build(claim=claim, address=parsed.address) if parsed.address is not None else None,
        audit_data=_audit_data(campaign, w, quota_id, parsed),
        actor_label=f"resident/{channel}",
        fallback=functools.partial(_write, campaign, w, quota_id, parsed, plan.idx, channel, now),
        plan=plan, count=count, language=translation.get_language() or settings.LANGUAGE_CODE)


def _in_language(job: writer.ClaimJob) -> translation.override:
    """The job's request language, for the refusals the writer thread words (some are formatted at once)."""
    return translation.override(job.language or settings.LANGUAGE_CODE)


def claim_run(*, job: writer.ClaimJob) -> Claim:
    """Count, take the unit and write a claim (``claim_job``), committed before this returns: through the
    process's group-commit writer (``writer.py``), with the claims that arrived at the same time, or alone with
    ``ALLOT_CLAIM_GROUP_COMMIT=false``. Returns the claim or raises its ``DomainError``."""
    if setting("ALLOT_CLAIM_GROUP_COMMIT", True):
        _claim_writer.write(job)
    else:
        _claim_writer.write_alone(job)
    return claim_result(job=job)


def claim_result(*, job: writer.ClaimJob) -> Claim:
    """The claim of a job that is done, or its error raised. A job that ended neither accepted nor with an error
    (a defect) raises rather than tell a resident yes for a claim that was not written."""
    if job.error is not None:
        raise job.error
    if job.outcome != writer.ACCEPTED:
        raise RuntimeError(f"claim job ended without an outcome ({job.outcome!r})")
    return job.claim


def claim_enqueue(*, job: writer.ClaimJob) -> None:
    """``claim_run`` without waiting, for a caller that must not block (the claim lane's event loop): the job is
    queued for the writer thread, and ``job.waker`` is told when it is done (``job.error`` or ``job.claim``)."""
    _claim_writer.submit(job)


def claim_finish(*, plan: ClaimPlan) -> Claim:
    """The second half of ``claim_create``: take the unit (Redis, when set) and write the claim."""
    return claim_run(job=claim_job(plan=plan))


def claim_create(*, campaign: Campaign, request: ClaimRequest, channel: str = Claim.Channel.WEB,
                 now: dt.datetime | None = None, list_ids: tuple[int, ...] | None = None) -> Claim:
    """Claim today's unit of the resident's area. Raises ``DomainError``s with stable codes: field errors
    (400), ``not_eligible`` (403), ``campaign_closed``/``not_open_yet``/``sold_out``/``already_claimed``/
    ``no_quota`` (409), ``maintenance``/``temporarily_unavailable`` (503)."""
    return claim_finish(plan=claim_plan(campaign=campaign, request=request, channel=channel, now=now,
                                        list_ids=list_ids))


# --- the writer's steps before and after the database ---------------------------------------------------

def _jobs_before(jobs: list[writer.ClaimJob]) -> list[writer.ClaimJob]:
    """Before a batch is written: count each claim's attempt (its proof of work redeemed, its rate counters) and,
    with Redis, take its unit there — one script call for the whole batch (``store.take_batch``). Returns the jobs
    to write; the others carry their error (replayed, rate limited, already claimed, sold out, Redis down)."""
    if store.enabled():
        return _jobs_take_in_redis(jobs)
    counted = [job for job in jobs if job.count is not None]
    if not counted:
        return jobs
    # without Redis: the proofs redeemed and the attempts counted through the process's write-behind buffer, the
    # table of redeemed proofs asked once for the batch
    try:
        refusals = proofs_redeem_counted(items=[(j.count.solved, j.count.keys) for j in counted], scope="claim")
    except DomainError as exc:   # the buffer's table unreadable: 503 for every counted claim
        for job in counted:
            job.error = exc
        return [job for job in jobs if job.count is None]
    refused = {id(job) for job, refusal in zip(counted, refusals, strict=True) if refusal is not None}
    for job, refusal in zip(counted, refusals, strict=True):
        job.error = refusal
    return [job for job in jobs if id(job) not in refused]


def jobs_takes(jobs: list[writer.ClaimJob]) -> list[store.Take]:
    """What the claim script does for each job: count it (its proof's replay key, its rate counters) unless it
    carries nothing to count, then take its unit."""
    takes = []
    for job in jobs:
        plan: ClaimPlan = job.plan
        once: tuple[str, int, str] | None = None
        counters: tuple[tuple[str, int, int], ...] = ()
        if job.count is not None:
            once = proof_once(job.count.solved) if job.count.solved is not None else None
            counters = tuple((key, window, limit) for _kind, key, window, _ends, limit
                             in rate_plan(scope="claim", keys=job.count.keys))
        takes.append(store.Take(campaign_id=plan.campaign.pk, day=plan.window.day, quota_id=plan.quota_id,
                                person=plan.idx, once=once, counters=counters))
    return takes


def jobs_store_down(jobs: list[writer.ClaimJob], exc: Exception) -> None:
    """Redis did not answer the batch's script: every claim refused with 503, nothing taken."""
    logger.error("Redis unreachable, %d claim(s) refused with 503 (%s)", len(jobs), exc)
    for job in jobs:
        # counted claims answer as the rate limiter does when its store is down; the others as the claim does
        with _in_language(job):
            job.error = rate_limit_unavailable() if job.count is not None else unavailable_error()


@dataclass
class Answered:
    """The jobs of a batch after the claim script: ``ready`` took a unit (to write); ``unloaded`` met a day or an
    area Redis has not loaded (``_take_in_redis`` loads it and takes again); ``sold_out`` found none left (their
    area is to be flagged); the others carry their error."""

    ready: list[writer.ClaimJob]
    unloaded: list[tuple[writer.ClaimJob, int]]
    sold_out: list[writer.ClaimJob]


def jobs_answered(jobs: list[writer.ClaimJob], answers: list[int]) -> Answered:
    """Sort a batch's jobs by the claim script's answers; no I/O (the claim lane's event loop calls it)."""
    out = Answered([], [], [])
    for job, answer in zip(jobs, answers, strict=True):
        if answer == store.TAKEN:
            job.taken = True
            out.ready.append(job)
        elif answer == store.REPLAYED:
            job.error = replayed_error()
        elif answer == store.LIMITED:
            job.error = rate_limited()
        elif answer == store.ALREADY:
            job.error = _already_error()
        elif answer == store.SOLD_OUT:
            with _in_language(job):
                job.error = sold_out_error(job.plan.window)
            out.sold_out.append(job)
        else:
            out.unloaded.append((job, answer))
    return out


def jobs_sold_out_mark(jobs: list[writer.ClaimJob]) -> None:
    """Flag the areas the claim script found sold out (the process's flags and the shared copy)."""
    for campaign, day, scope_key in {(j.plan.campaign, j.plan.window.day, j.plan.parsed.scope_key) for j in jobs}:
        _mark_sold_out(campaign, day, scope_key)


def _jobs_take_in_redis(jobs: list[writer.ClaimJob]) -> list[writer.ClaimJob]:
    try:
        answers = store.take_batch(jobs_takes(jobs))
    except store.StoreUnavailable as exc:
        jobs_store_down(jobs, exc)
        return []
    answered = jobs_answered(jobs, answers)
    jobs_sold_out_mark(answered.sold_out)
    loaded = [job for job, answer in answered.unloaded if jobs_take_loaded(job, answer)]
    if not loaded:
        return answered.ready
    taken = {id(job) for job in answered.ready + loaded}
    return [job for job in jobs if id(job) in taken]   # in the order they came


def jobs_take_loaded(job: writer.ClaimJob, answer: int) -> bool:
    """A job whose day or area Redis had not loaded: load it (``store_day_rebuild``: one process rebuilds from the
    database) and take the unit — plainly, the attempt was already counted. True when taken; else the job carries
    its error."""
    plan: ClaimPlan = job.plan
    try:
        with _in_language(job):
            _take_in_redis(plan.campaign, plan.window, plan.quota_id, plan.parsed.scope_key, plan.idx, first=answer)
    except store.StoreUnavailable:
        logger.warning("Redis unavailable: claim refused with 503")
        job.error = unavailable_error()
        return False
    except DomainError as exc:
        job.error = exc
        return False
    job.taken = True
    return True


def jobs_write_one_by_one(jobs: list[writer.ClaimJob]) -> None:
    """A batch whose statement failed: each claim written by the per-claim transaction, then ``jobs_after``."""
    for job in jobs:
        writer.ClaimWriter.write_one(job)
    jobs_after(jobs)


def jobs_after(jobs: list[writer.ClaimJob]) -> list[writer.ClaimJob]:
    """After a batch is written: a claim the database refused gets its error (sold out, already claimed), and the
    unit Redis took for it goes back; a sold-out area is flagged."""
    for job in jobs:
        plan: ClaimPlan | None = job.plan
        if plan is None or (job.outcome == writer.ACCEPTED and job.error is None):
            continue
        with _in_language(job):
            _job_refused(job, plan)
    return []


def _job_refused(job: writer.ClaimJob, plan: ClaimPlan) -> None:
    campaign, w, quota_id, idx = plan.campaign, plan.window, plan.quota_id, plan.idx
    exc = job.error
    if isinstance(exc, _SoldOut) or (exc is None and job.outcome == writer.SOLD_OUT):
        if job.taken:
            _give_back(campaign, w.day, quota_id, idx, "sold_out")
        _mark_sold_out(campaign, w.day, plan.parsed.scope_key)
        job.error = sold_out_error(w)
    elif exc is None and job.outcome == writer.ALREADY:
        if job.taken:
            _give_back(campaign, w.day, quota_id, idx, "unit")
        job.error = _already_error()
    elif exc is not None and job.taken:
        _give_back(campaign, w.day, quota_id, idx,
                   "unit" if isinstance(exc, Conflict) and exc.code == "already_claimed" else "both")


_claim_writer = writer.ClaimWriter(_one_writer, before=_jobs_before, after=jobs_after)


def _give_back(campaign: Campaign, day: dt.date, quota_id: int, person: str, mode: str) -> None:
    try:
        store.give_back(campaign_id=campaign.pk, day=day, quota_id=quota_id, person=person, mode=mode)
    except store.StoreUnavailable:
        # The unit stays taken in Redis until the day is rebuilt: never an oversell, at worst one unit short.
        logger.error("could not give a unit back to Redis (quota %s, %s)", quota_id, mode)


# --- undeliverable parcels give their unit to the next day ---------------------------------------------

def undeliverable_units_return(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Each undeliverable parcel not yet counted adds one unit to its area's quota of the next campaign day
    (the day after the report, at the earliest the day after the claim). Idempotent: ``unit_returned_at`` is
    set in the same transaction, under a row lock."""
    from allot.delivery.models import Parcel

    now = now or timezone.now()
    done = 0
    pending = list(Parcel.objects.filter(status=Parcel.Status.UNDELIVERABLE, unit_returned_at__isnull=True)
                   .values_list("pk", flat=True)[:limit])
    for pk in pending:
        with transaction.atomic():
            parcel = (Parcel.objects.select_for_update().select_related("claim__campaign")
                      .filter(pk=pk, unit_returned_at__isnull=True).first())
            if parcel is None:
                continue
            claim, campaign = parcel.claim, parcel.claim.campaign
            day = max(local_now(campaign, now).date(), claim.day) + dt.timedelta(days=1)
            q = quota_get_or_create(campaign=campaign, day=day, scope_key=claim.scope_key)
            if q is None:
                q, _created = Quota.objects.get_or_create(campaign=campaign, day=day, scope_key=claim.scope_key,
                                                          defaults={"units": 0})
            Quota.objects.filter(pk=q.pk).update(units=F("units") + 1, returned=F("returned") + 1)
            parcel.unit_returned_at = now
            parcel.save(update_fields=["unit_returned_at", "updated_at"])
            log_action("allot.firstcome.unit_returned", obj=q, data={"parcel": parcel.number, "day": day.isoformat(),
                                                                     "scope": claim.scope_key})
            transaction.on_commit(functools.partial(_after_units_change, campaign, day, claim.scope_key, q.pk))
        done += 1
    return done


def days_prepare(*, now: dt.datetime | None = None) -> int:
    """Open today's quota rows of every active first-come campaign from its plans and, with Redis, load the
    day before the opening surge (a restarted Redis is reloaded here too). Returns the rows opened."""
    now = now or timezone.now()
    opened = 0
    for campaign in Campaign.objects.filter(status=Campaign.Status.ACTIVE, mode=Campaign.Mode.FIRST_COME):
        day = local_now(campaign, now).date()
        if day < campaign.starts_on or (campaign.ends_on and day > campaign.ends_on):
            continue
        keys = set(QuotaPlan.objects.filter(campaign=campaign).values_list("scope_key", flat=True))
        if campaign.quota_scope == Campaign.QuotaScope.CITY and campaign.daily_quota is not None:
            keys.add(CITY_SCOPE)
        for key in sorted(keys):
            if not Quota.objects.filter(campaign=campaign, day=day, scope_key=key).exists():
                opened += int(quota_get_or_create(campaign=campaign, day=day, scope_key=key) is not None)
        if store.enabled():
            ready, _people = store.day_keys(campaign.pk, day)
            try:
                if not store.client().exists(ready):
                    store_day_rebuild(campaign=campaign, day=day, wait=False)
            except (store.StoreUnavailable, redis.RedisError) as exc:
                logger.warning("cannot load %s into Redis: %s", campaign.slug, exc)
    return opened
