"""Reads the API needs that the domain selectors do not offer yet. Each is a plain selector; the draw reads
belong in ``allot/draws/selectors.py`` and the campaign/district lookups in ``allot/campaigns/selectors.py``
once those modules grow them (the portal needs the same ones)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _

from allot.campaigns import selectors as campaign_selectors
from allot.campaigns.models import Campaign
from allot.core.errors import NotFound
from allot.draws.models import Draw, DrawFile
from allot.places.models import Division
from allot.places.selectors import districts_of

# Bundle files in the order a verifier reads them, with the content types the portal serves them with.
BUNDLE_FILES: dict[str, str] = {
    "manifest.json": "application/json",
    "entries.jsonl": "application/x-ndjson",
    "reveal.json": "application/json",
    "results.csv": "text/csv; charset=utf-8",
}


def campaigns_listed() -> QuerySet[Campaign]:
    return campaign_selectors.campaigns_active().prefetch_related("eligibility_lists")


def campaign_public(*, slug: str) -> Campaign:
    """A campaign residents may see: active or ended, never a draft."""
    campaign = (Campaign.objects.exclude(status=Campaign.Status.DRAFT).select_related("city")
                .prefetch_related("eligibility_lists").filter(slug=slug).first())
    if campaign is None:
        raise NotFound(_("There is no such campaign."), code="campaign_not_found", field="slug")
    return campaign


@dataclass(frozen=True)
class Today:
    draw_date: dt.date
    draw_at: dt.datetime
    registered: int
    packs: int
    units: int
    in_maintenance: bool


def campaign_today(*, campaign: Campaign, now: dt.datetime | None = None) -> Today:
    """The round a registration made now goes to, and its numbers so far."""
    round_ = campaign_selectors.round_current(campaign, now)
    numbers = campaign_selectors.round_numbers(round_=round_)
    day = round_.draw_date if round_ is not None else campaign_selectors.draw_date_for(campaign, now)
    return Today(draw_date=day, draw_at=campaign_selectors.at_local(campaign, day, campaign.draw_time),
                 registered=numbers.registered, packs=numbers.packs,
                 units=numbers.packs * campaign.units_per_winner,
                 in_maintenance=campaign_selectors.in_maintenance(campaign, now))


def campaign_district(*, campaign: Campaign, code: str) -> Division:
    district = districts_of(city_code=campaign.city_id).filter(code=code).first()
    if district is None:
        raise NotFound(_("This district is not part of the campaign's city."), code="district_not_found",
                       field="code")
    return district


def campaign_outlets(*, campaign: Campaign, district_code: str, lat: float | None = None,
                     lng: float | None = None) -> list[campaign_selectors.OutletRow]:
    district = campaign_district(campaign=campaign, code=district_code)
    return campaign_selectors.outlets_with_stock(
        campaign=campaign, district_code=district.code, round_=campaign_selectors.round_current(campaign),
        lat=lat, lng=lng)


def draws_public(*, campaign_slug: str | None = None) -> QuerySet[Draw]:
    """Committed and published draws, newest first, with their file names and hashes (not the bytes)."""
    qs = (Draw.objects.filter(state__in=[Draw.State.COMMITTED, Draw.State.PUBLISHED])
          .select_related("round__campaign")
          .prefetch_related(Prefetch("files", queryset=DrawFile.objects.defer("content")))
          .order_by("-round__draw_date", "-committed_at", "-pk"))
    if campaign_slug:
        qs = qs.filter(round__campaign__slug=campaign_slug)
    return qs


def _draw_not_found() -> NotFound:
    return NotFound(_("There is no draw with this id."), code="draw_not_found", field="draw_id")


def draw_public(*, draw_id: str) -> Draw:
    draw = draws_public().filter(draw_id=draw_id).first()
    if draw is None:
        raise _draw_not_found()
    return draw


def draw_file(*, draw_id: str, name: str) -> DrawFile:
    draw_pk = (Draw.objects.filter(draw_id=draw_id, state__in=[Draw.State.COMMITTED, Draw.State.PUBLISHED])
               .values_list("pk", flat=True).first())
    if draw_pk is None:
        raise _draw_not_found()
    f = DrawFile.objects.filter(draw_id=draw_pk, name=name).first() if name in BUNDLE_FILES else None
    if f is None:
        raise NotFound(_("This draw has no file with this name (yet)."), code="file_not_found", field="name")
    return f
