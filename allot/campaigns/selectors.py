"""Reads for campaigns: which round a registration made now belongs to, windows, today's numbers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from allot.campaigns.models import Campaign, Round, Supply
from allot.places.models import Division


def campaigns_active() -> QuerySet[Campaign]:
    return Campaign.objects.filter(status=Campaign.Status.ACTIVE).select_related("city").order_by("starts_on", "pk")


def local_now(campaign: Campaign, now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()).astimezone(campaign.tz)


def at_local(campaign: Campaign, day: dt.date, t: dt.time) -> dt.datetime:
    """An aware datetime for local wall time ``t`` on ``day``; 00:00 as an end time means the next midnight."""
    return dt.datetime.combine(day, t, tzinfo=campaign.tz)


def in_maintenance(campaign: Campaign, now: dt.datetime | None = None) -> bool:
    if campaign.maintenance_start is None or campaign.maintenance_end is None:
        return False
    t = local_now(campaign, now).time()
    start, end = campaign.maintenance_start, campaign.maintenance_end
    if end <= start:  # wraps midnight, e.g. 22:00–00:00
        return t >= start or t < end
    return start <= t < end


def draw_date_for(campaign: Campaign, now: dt.datetime | None = None) -> dt.date:
    """Registrations before today's draw time go to today's draw, later ones to tomorrow's."""
    local = local_now(campaign, now)
    day = local.date()
    if local.time() >= campaign.draw_time:
        day += dt.timedelta(days=1)
    return max(day, campaign.starts_on)


def draw_moment(round_: Round) -> dt.datetime:
    return at_local(round_.campaign, round_.draw_date, round_.campaign.draw_time)


def pickup_window(round_: Round) -> tuple[dt.datetime, dt.datetime]:
    c = round_.campaign
    day = round_.draw_date + dt.timedelta(days=c.pickup_day_offset)
    return at_local(c, day, c.pickup_start), at_local(c, day, c.pickup_end)


def round_current(campaign: Campaign, now: dt.datetime | None = None) -> Round | None:
    """The round registrations go to now (see ``services.round_for_registration``), if it exists yet."""
    return (Round.objects.filter(campaign=campaign, draw_date__gte=draw_date_for(campaign, now),
                                 state=Round.State.OPEN).order_by("draw_date").first())


def rounds_due(now: dt.datetime | None = None) -> list[Round]:
    """Open rounds whose draw time has passed, and frozen ones that still need finishing."""
    now = now or timezone.now()
    out = []
    for r in (Round.objects.filter(campaign__status=Campaign.Status.ACTIVE)
              .exclude(state=Round.State.DRAWN).select_related("campaign").order_by("draw_date", "pk")):
        if r.state == Round.State.FROZEN or draw_moment(r) <= now:
            out.append(r)
    return out


@dataclass(frozen=True)
class OutletStock:
    outlet_id: int
    packs: int


def stock_by_outlet(*, round_: Round | None) -> dict[int, int]:
    if round_ is None:
        return {}
    return dict(Supply.objects.filter(round=round_).values_list("outlet_id", "packs"))


@dataclass(frozen=True)
class RoundNumbers:
    draw_date: dt.date | None
    registered: int
    packs: int


def round_numbers(*, round_: Round | None) -> RoundNumbers:
    if round_ is None:
        return RoundNumbers(draw_date=None, registered=0, packs=0)
    reg = round_.registrations.aggregate(n=Count("pk", filter=~Q(status="withdrawn")))["n"] or 0
    packs = Supply.objects.filter(round=round_).aggregate(s=Sum("packs"))["s"] or 0
    return RoundNumbers(draw_date=round_.draw_date, registered=reg, packs=packs)


@dataclass(frozen=True)
class OutletRow:
    code: str
    name: str
    address: str
    latitude: float
    longitude: float
    opening_hours: str
    packs: int               # winner packs released for the round
    units: int               # packs × units_per_winner
    distance_m: int | None   # from the resident's location, when given


def outlets_with_stock(*, campaign: Campaign, district_code: str, round_: Round | None,
                       lat: float | None = None, lng: float | None = None) -> list[OutletRow]:
    """Open outlets of a district with the round's stock; nearest first when a location is given. Two queries."""
    from allot.places.selectors import distance_m, outlets_of_district

    stock = {}
    if round_ is not None:
        stock = dict(Supply.objects.filter(round=round_, outlet__district_id=district_code)
                     .values_list("outlet_id", "packs"))
    rows = []
    for o in outlets_of_district(district_code=district_code).filter(status="open"):
        packs = stock.get(o.pk, 0)
        dist = distance_m(lat, lng, o.latitude, o.longitude) if lat is not None and lng is not None else None
        rows.append(OutletRow(code=o.code, name=o.name, address=o.address, latitude=float(o.latitude),
                              longitude=float(o.longitude), opening_hours=o.opening_hours, packs=packs,
                              units=packs * campaign.units_per_winner, distance_m=dist))
    if lat is not None and lng is not None:
        rows.sort(key=lambda r: (r.distance_m or 0, r.code))
    return rows


def campaign_public(*, slug: str) -> Campaign:
    """A campaign residents may see (active or ended, never a draft); NotFound ``campaign_not_found``."""
    from django.utils.translation import gettext_lazy as _

    from allot.core.errors import NotFound

    campaign = Campaign.objects.exclude(status=Campaign.Status.DRAFT).select_related("city").filter(slug=slug).first()
    if campaign is None:
        raise NotFound(_("There is no such campaign."), code="campaign_not_found", field="slug")
    return campaign


@dataclass(frozen=True)
class Today:
    """The round a registration made now goes to, and its numbers so far."""

    draw_date: dt.date
    draw_at: dt.datetime
    registered: int
    packs: int
    units: int
    in_maintenance: bool


def campaign_today(*, campaign: Campaign, now: dt.datetime | None = None) -> Today:
    round_ = round_current(campaign, now)
    numbers = round_numbers(round_=round_)
    day = round_.draw_date if round_ is not None else draw_date_for(campaign, now)
    return Today(draw_date=day, draw_at=at_local(campaign, day, campaign.draw_time),
                 registered=numbers.registered, packs=numbers.packs, units=numbers.packs * campaign.units_per_winner,
                 in_maintenance=in_maintenance(campaign, now))


def campaign_district(*, campaign: Campaign, code: str) -> Division:
    """A district of the campaign's city; NotFound ``district_not_found``."""
    from django.utils.translation import gettext_lazy as _

    from allot.core.errors import NotFound
    from allot.places.selectors import districts_of

    district = districts_of(city_code=campaign.city_id).filter(code=code).first()
    if district is None:
        raise NotFound(_("This district is not part of the campaign's city."), code="district_not_found",
                       field="code")
    return district
