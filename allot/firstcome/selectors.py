"""Reads for first-come campaigns: today's window, the quotas and units left, a claim's status.

The surge path must not query the database for what does not change within seconds, so the campaign (with
its eligibility list ids) and the ids of the day's quota rows are cached per process for a few seconds
(``CAMPAIGN_TTL``). A change of a campaign's configuration reaches every process within that time.
``caches_clear()`` empties them (tests; after an operator edit in the same process).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.campaigns.models import Campaign
from allot.campaigns.selectors import at_local, in_maintenance, local_now
from allot.core.errors import NotFound
from allot.delivery.addresses import gazetteer
from allot.firstcome import gate, store
from allot.firstcome.models import Claim, Quota

CAMPAIGN_TTL = 5.0
CAMPAIGN_REFRESH_AHEAD = 1.5
"""Seconds before a cached campaign expires from which the claim lane reloads it in a thread while claims go on
reading the entry it has (``claim_campaign_refresh_due``): at an expiry met under a surge, every claim of the
process waited for the one that reloaded it."""


@dataclass(frozen=True)
class ClaimCampaign:
    campaign: Campaign
    list_ids: tuple[int, ...]


_campaigns: dict[str, tuple[float, ClaimCampaign | None]] = {}
_quota_ids: dict[tuple[int, dt.date, str], int] = {}
_lock = threading.Lock()


def caches_clear() -> None:
    with _lock:
        _campaigns.clear()
        _quota_ids.clear()
    gate.flags_clear()


def claim_campaign(*, slug: str) -> ClaimCampaign:
    """A public first-come campaign by slug, from the process cache; NotFound ``campaign_not_found``."""
    hit = _campaigns.get(slug)
    if hit is None or hit[0] < time.monotonic():
        hit = _campaign_load(slug)
    if hit[1] is None:
        raise NotFound(_("There is no such first-come campaign."), code="campaign_not_found", field="slug")
    return hit[1]


def claim_campaign_refresh(*, slug: str) -> None:
    """Reload the cached campaign ``slug`` from the database now, whether or not its entry has expired."""
    _campaign_load(slug)


def claim_campaign_refresh_due(*, slug: str) -> bool:
    """Whether the cached entry of ``slug`` expires within ``CAMPAIGN_REFRESH_AHEAD`` seconds (or has expired)."""
    hit = _campaigns.get(slug)
    return hit is not None and hit[0] - CAMPAIGN_REFRESH_AHEAD <= time.monotonic()


def _campaign_load(slug: str) -> tuple[float, ClaimCampaign | None]:
    asked = time.monotonic()   # fresh from before the query: a change made while it ran shows at the next one
    c = (Campaign.objects.exclude(status=Campaign.Status.DRAFT).select_related("city__parent")
         .filter(slug=slug, mode=Campaign.Mode.FIRST_COME).first())
    value = (ClaimCampaign(campaign=c, list_ids=tuple(c.eligibility_lists.values_list("pk", flat=True)))
             if c else None)
    hit = _campaigns[slug] = (asked + CAMPAIGN_TTL, value)
    return hit


def claim_campaign_cached(*, slug: str) -> ClaimCampaign | None:
    """``claim_campaign`` from the process cache alone, never a query: None when the entry is missing, expired or
    says there is no such campaign (``claim_campaign`` then queries, or raises ``NotFound``)."""
    hit = _campaigns.get(slug)
    if hit is None or hit[0] < time.monotonic():
        return None
    return hit[1]


# --- the day's window -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """Where a first-come campaign stands at ``now`` (local times in the campaign's zone)."""

    day: dt.date
    opens: dt.datetime            # today's opening moment
    next_opens: dt.datetime       # tomorrow's
    state: str                    # closed | maintenance | before_open | open
    seconds_to_open: int


_windows: dict[int, tuple[Campaign, tuple[object, ...], dt.datetime, Window]] = {}


def _window_inputs(c: Campaign) -> tuple[object, ...]:
    return (c.status, c.starts_on, c.ends_on, c.opens_at, c.maintenance_start, c.maintenance_end, c.time_zone)


def window(campaign: Campaign, now: dt.datetime | None = None) -> Window:
    """Where ``campaign`` stands at ``now``. The last answer per campaign object is kept: a claim asks two or three
    times for the same instant (the lane, ``claim_prepare``, ``claim_plan``), and the time-zone arithmetic was a
    tenth of a claim's checks."""
    now = now or timezone.now()
    inputs = _window_inputs(campaign)
    hit = _windows.get(id(campaign))
    if hit is not None and hit[0] is campaign and hit[2] == now and hit[1] == inputs:
        return hit[3]
    w = _window(campaign, now)
    if len(_windows) >= 256:
        _windows.clear()
    _windows[id(campaign)] = (campaign, inputs, now, w)
    return w


def _window(campaign: Campaign, now: dt.datetime) -> Window:
    local = local_now(campaign, now)
    day = local.date()
    opens_t = campaign.opens_at or dt.time(0, 0)
    opens = at_local(campaign, day, opens_t)
    next_opens = at_local(campaign, day + dt.timedelta(days=1), opens_t)
    ended = campaign.ends_on is not None and day > campaign.ends_on
    if campaign.status != Campaign.Status.ACTIVE or ended:
        state = "closed"
    elif day < campaign.starts_on:
        state = "before_open"
        opens = at_local(campaign, campaign.starts_on, opens_t)
    elif in_maintenance(campaign, now):
        state = "maintenance"
    elif now < opens:
        state = "before_open"
    else:
        state = "open"
    return Window(day=day, opens=opens, next_opens=next_opens, state=state,
                  seconds_to_open=max(0, int((opens - now).total_seconds())))


# --- quotas ---------------------------------------------------------------------------------------------

def quota_id_cached(campaign_id: int, day: dt.date, scope_key: str) -> int | None:
    return _quota_ids.get((campaign_id, day, scope_key))


def quota_id_remember(campaign_id: int, day: dt.date, scope_key: str, quota_id: int) -> None:
    _quota_ids[(campaign_id, day, scope_key)] = quota_id


@dataclass(frozen=True)
class Remaining:
    day: dt.date
    units: int                      # claims that can be accepted today, all areas
    left: int
    by_scope: dict[str, int] = field(default_factory=dict)   # scope key -> left
    source: str = "database"        # database | redis


REMAINING_MAX_AGE = 2
"""Seconds the units left may be kept by whoever passes them on (``Cache-Control: public, max-age``): pages ask for
them every 5 s."""


def remaining(*, campaign: Campaign, day: dt.date, warm: bool = True) -> Remaining:
    """Units left today, per area: from Redis when it has the day loaded (what claims are checked against),
    else from the database. With ``warm``, the claim path's caches are filled on the way (the pages' polls); the
    sold-out recheck, which a crowd of refusals waits for, goes without (``services.sold_out_recheck``)."""
    rows = list(Quota.objects.filter(campaign=campaign, day=day).values_list("pk", "scope_key", "units", "taken"))
    for pk, scope, _units, _taken in rows:   # the claim path's cache of the rows' ids, filled by the pages' polls
        quota_id_remember(campaign.pk, day, scope, pk)   # before the opening rather than by its first claims
    if warm and campaign.fulfilment == Campaign.Fulfilment.DELIVERY and campaign.city_id:
        # and the places a delivery address is checked against (loaded only when the kept ones have expired): at
        # an opening after a quiet spell the first claim of each process loaded them, in a thread whose turns at
        # the interpreter held up the claim lane's loop (bench/README.md, tenth session)
        gazetteer(campaign.city_id)
    by_scope = {scope: max(0, units - taken) for _pk, scope, units, taken in rows}
    source = "database"
    if store.enabled() and rows:
        try:
            live = store.left(campaign_id=campaign.pk, day=day, quota_ids=[r[0] for r in rows])
        except store.StoreUnavailable:
            live = None
        if live is not None:
            by_scope = {scope: min(by_scope[scope], live.get(pk, by_scope[scope])) for pk, scope, _u, _t in rows}
            source = "redis"
    total_units = sum(r[2] for r in rows)
    return Remaining(day=day, units=total_units, left=sum(by_scope.values()), by_scope=by_scope, source=source)


def taken_total(*, campaign: Campaign, day: dt.date) -> int:
    return Quota.objects.filter(campaign=campaign, day=day).aggregate(s=Sum("taken"))["s"] or 0


# --- a resident's claim ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParcelEventRow:
    status: str
    status_label: str
    at: dt.datetime
    note: str


@dataclass(frozen=True)
class ClaimStatus:
    """Everything a resident may see about their own claim (masked personal data only)."""

    number: str
    campaign_slug: str
    campaign_name: str
    good: str
    units: int
    unit_label: str
    day: dt.date
    created_at: dt.datetime
    name_masked: str
    id_masked: str
    phone_masked: str
    area: str
    delivery: bool
    address: str = ""
    parcel_number: str = ""
    parcel_status: str = ""
    parcel_status_label: str = ""
    parcel_status_at: dt.datetime | None = None
    courier: str = ""
    events: tuple[ParcelEventRow, ...] = ()


def claim_latest_of(*, campaign: Campaign, person_pk: int) -> Claim | None:
    """The person's most recent claim in ``campaign`` (today's, if any), or None."""
    return Claim.objects.filter(campaign=campaign, person_id=person_pk).order_by("-day", "-pk").first()


def claim_for_status(*, pk: int) -> Claim:
    return (Claim.objects.select_related("campaign__city", "person", "district", "outlet", "parcel__district",
                                         "parcel__street", "parcel__committee", "parcel__courier")
            .prefetch_related("parcel__events").get(pk=pk))


def claim_status(*, claim: Claim) -> ClaimStatus:
    from allot.delivery.addresses import Address
    from allot.delivery.models import Parcel, ParcelEvent

    c, campaign = claim, claim.campaign
    parcel: Parcel | None = getattr(c, "parcel", None)
    area = c.district.name if c.district else (c.outlet.name if c.outlet else campaign.city.name)
    extra: dict[str, object] = {}
    if parcel is not None:
        address = Address(district_code=parcel.district_id, district_name=parcel.district.name,
                          street_id=parcel.street_id, street_name=parcel.street.name if parcel.street else "",
                          committee_id=parcel.committee_id,
                          committee_name=parcel.committee.name if parcel.committee else "",
                          building=parcel.building, unit=parcel.unit, room=parcel.room, line=parcel.line)
        labels = dict(Parcel.Status.choices)
        events = [e for e in parcel.events.all() if e.outcome == ParcelEvent.Outcome.APPLIED]
        extra = {
            "address": address.one_line(campaign.city.name), "parcel_number": parcel.number,
            "parcel_status": parcel.status, "parcel_status_label": str(parcel.get_status_display()),
            "parcel_status_at": parcel.status_at,
            "courier": parcel.courier.name if parcel.courier else "",
            "events": tuple(ParcelEventRow(status=e.status, status_label=str(labels.get(e.status, e.status)),
                                           at=e.at, note=e.note) for e in events),
        }
    return ClaimStatus(
        number=c.number, campaign_slug=campaign.slug, campaign_name=campaign.name, good=campaign.good,
        units=c.units, unit_label=campaign.unit_label, day=c.day, created_at=c.created_at,
        name_masked=c.person.name_masked, id_masked=c.person.id_masked, phone_masked=c.person.phone_masked,
        area=area, delivery=parcel is not None, **extra)  # type: ignore[arg-type]
