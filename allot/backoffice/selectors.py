"""Reads for the staff pages. Every query here is scoped by the caller's campaigns or outlet."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from allot.backoffice.access import campaigns_operated, campaigns_visible
from allot.campaigns.models import Campaign
from allot.campaigns.selectors import local_now
from allot.delivery.models import Courier, Parcel
from allot.draws.models import Draw
from allot.firstcome.models import Claim
from allot.identity.models import EligibilityList
from allot.pickup.models import PickupCode
from allot.places.models import Division


def draws_visible(*, user: Any) -> QuerySet[Draw]:
    """Draws of the campaigns the user may see, newest first, with their round and campaign."""
    return (Draw.objects.filter(round__campaign__in=campaigns_visible(user))
            .select_related("round__campaign").order_by("-round__draw_date", "-pk"))


def draw_visible_get(*, user: Any, pk: int) -> Draw:
    """One draw, or 404 when it does not exist *or* belongs to a campaign the user may not see."""
    return get_object_or_404(draws_visible(user=user), pk=pk)


def campaigns_for_draw_now(*, user: Any) -> QuerySet[Campaign]:
    """Active demo campaigns (synthetic beacon) the user operates."""
    return (campaigns_visible(user)
            .filter(status=Campaign.Status.ACTIVE, beacon_kind=Campaign.Beacon.SYNTHETIC).order_by("slug"))


def eligibility_lists_for(*, user: Any) -> QuerySet[EligibilityList]:
    """Superusers may import into any list; an operator into the lists their campaigns use."""
    if getattr(user, "is_superuser", False):
        return EligibilityList.objects.order_by("code")
    return EligibilityList.objects.filter(campaign__in=campaigns_visible(user)).distinct().order_by("code")


def redemptions_today(*, outlet_id: int, now: dt.datetime | None = None) -> int:
    """Codes redeemed at the outlet since local midnight (display time zone, Asia/Shanghai by default)."""
    local = timezone.localtime(now or timezone.now())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return PickupCode.objects.filter(outlet_id=outlet_id, redeemed_at__gte=start,
                                     redeemed_at__lt=start + dt.timedelta(days=1)).count()


# --- operator: courier manifests of first-come delivery campaigns ---------------------------------------
#
# Read-only, for display: the parcels of one campaign and day counted by courier, area and status, and the
# downloads the page offers. allot.delivery has no selectors module yet; its manifest services take a courier
# and a day but no campaign, so the page checks the campaign itself (allot/privacy/manifests.py).

#: The order of the status columns on the page (the forward order of a parcel).
PARCEL_STATUSES: tuple[str, ...] = tuple(Parcel.Status.values)


def manifest_campaigns(*, user: Any) -> QuerySet[Campaign]:
    """First-come campaigns delivered by courier that the user operates (operators' own; every one for a
    superuser). Notaries and clerks get none: a manifest is residents' data."""
    return (campaigns_operated(user)
            .filter(mode=Campaign.Mode.FIRST_COME, fulfilment=Campaign.Fulfilment.DELIVERY)
            .select_related("city").order_by("slug"))


def manifest_campaign_get(*, user: Any, slug: str) -> Campaign:
    """One of them, or 404 when it does not exist *or* is outside the user's campaigns."""
    return get_object_or_404(manifest_campaigns(user=user), slug=slug)


def manifest_day_default(*, campaign: Campaign, now: dt.datetime | None = None) -> dt.date:
    """Today in the campaign's time zone."""
    return local_now(campaign, now).date()


def manifest_days(*, campaign: Campaign, limit: int = 14) -> list[dt.date]:
    """The latest days with claims, newest first (links on the page)."""
    return list(Claim.objects.filter(campaign=campaign).values_list("day", flat=True)
                .distinct().order_by("-day")[:limit])


@dataclass(frozen=True)
class ParcelCountRow:
    """Parcels of one courier (``courier_code`` "" = not yet handed to a courier) in one street, by status."""

    courier_code: str
    courier_name: str
    district_code: str
    district_name: str
    street_name: str
    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def cells(self) -> list[int]:
        return [self.by_status.get(s, 0) for s in PARCEL_STATUSES]


@dataclass(frozen=True)
class ManifestTarget:
    """A download the page offers: one courier's manifest of the day, for one district or (``district_code``
    "") all it serves. ``held``: the campaign's parcels the courier already has there; ``waiting``: parcels not
    yet handed to any courier that the download hands to this one (as the courier API and the admin do)."""

    courier: Courier
    district_code: str
    district_name: str
    held: int
    waiting: int

    @property
    def key(self) -> str:
        return f"{self.courier.code}|{self.district_code}"


@dataclass(frozen=True)
class ManifestOverview:
    campaign: Campaign
    day: dt.date
    rows: list[ParcelCountRow]
    totals: list[int]
    total: int
    targets: list[ManifestTarget]


def _day_parcels(*, campaign: Campaign, day: dt.date) -> QuerySet[Parcel]:
    return Parcel.objects.filter(claim__campaign=campaign, claim__day=day)


def manifest_overview(*, campaign: Campaign, day: dt.date) -> ManifestOverview:
    """The day's parcels of the campaign counted by courier, district, street and status (one grouped query),
    and the downloads per courier and per district it serves (two more queries)."""
    grouped = (_day_parcels(campaign=campaign, day=day)
               .values("courier__code", "courier__name", "district_id", "district__name", "street__code",
                       "street__name", "status")
               .annotate(n=Count("pk"))
               .order_by("courier__code", "district_id", "street__code", "status"))
    names: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    counts: dict[tuple[str, str, str], dict[str, int]] = {}
    held: dict[tuple[str, str], int] = {}
    waiting: dict[str, int] = {}
    for g in grouped:
        courier_code, district_code = g["courier__code"] or "", g["district_id"]
        key = (courier_code, district_code, g["street__code"] or "")
        names[key] = (g["courier__name"] or "", g["district__name"], g["street__name"] or "")
        by_status = counts.setdefault(key, {})
        by_status[g["status"]] = by_status.get(g["status"], 0) + g["n"]
        if courier_code:
            held[(courier_code, district_code)] = held.get((courier_code, district_code), 0) + g["n"]
        else:
            waiting[district_code] = waiting.get(district_code, 0) + g["n"]
    table = [ParcelCountRow(courier_code=key[0], courier_name=names[key][0], district_code=key[1],
                            district_name=names[key][1], street_name=names[key][2], by_status=by_status)
             for key, by_status in counts.items()]
    # unassigned rows last within the table, couriers in code order
    rows = sorted(table,
                  key=lambda r: (r.courier_code == "", r.courier_code, r.district_code, r.street_name))
    totals = [sum(r.cells[i] for r in rows) for i in range(len(PARCEL_STATUSES))]
    return ManifestOverview(campaign=campaign, day=day, rows=rows, totals=totals, total=sum(totals),
                            targets=_targets(campaign=campaign, held=held, waiting=waiting))


def _targets(*, campaign: Campaign, held: dict[tuple[str, str], int], waiting: dict[str, int]) -> list[ManifestTarget]:
    holders = {code for code, _d in held}
    couriers = (Courier.objects.filter(Q(active=True, districts__parent_id=campaign.city_id) | Q(code__in=holders))
                .distinct().order_by("code")
                .prefetch_related(Prefetch("districts", queryset=Division.objects.filter(
                    parent_id=campaign.city_id).order_by("code"), to_attr="city_districts")))
    out: list[ManifestTarget] = []
    for courier in couriers:
        served = list(getattr(courier, "city_districts", []))
        out.append(ManifestTarget(
            courier=courier, district_code="", district_name="",
            held=sum(n for (code, _d), n in held.items() if code == courier.code),
            waiting=sum(waiting.get(d.code, 0) for d in served)))
        for d in served:
            out.append(ManifestTarget(courier=courier, district_code=d.code, district_name=d.name,
                                      held=held.get((courier.code, d.code), 0), waiting=waiting.get(d.code, 0)))
    return out


def manifest_target_get(*, campaign: Campaign, day: dt.date, courier_code: str, district_code: str) -> Courier:
    """The courier of a download the page offers for this campaign, or 404 (another city's courier, a district
    the courier does not serve)."""
    qs = Courier.objects.filter(code=courier_code)
    if district_code:
        qs = qs.filter(districts__code=district_code, districts__parent_id=campaign.city_id)
    else:
        qs = qs.filter(Q(active=True, districts__parent_id=campaign.city_id)
                       | Q(parcels__claim__campaign=campaign, parcels__claim__day=day))
    courier = qs.distinct().first()
    if courier is None:
        raise Http404("courier")
    return courier


MANIFEST_PARCELS_LIMIT = 200


def manifest_parcels(*, campaign: Campaign, day: dt.date, status: str = "",
                     limit: int = MANIFEST_PARCELS_LIMIT) -> list[Parcel]:
    """The day's parcels for the list on the page: masked name and phone only, address down to the committee."""
    qs = _day_parcels(campaign=campaign, day=day)
    if status:
        qs = qs.filter(status=status)
    return list(qs.select_related("claim__person", "courier", "district", "street", "committee")
                .only("number", "status", "status_at", "claim__number", "claim__person__name_masked",
                      "claim__person__phone_masked", "courier__code", "courier__name", "district__name",
                      "street__name", "committee__name")
                .order_by("district_id", "street__code", "committee__code", "number")[:limit])
