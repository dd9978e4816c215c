"""The API's reads: thin adapters over the domain selectors that turn "not there" into the API's NotFound
codes."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from allot.campaigns import selectors as campaign_selectors
from allot.campaigns.models import Campaign
from allot.core.errors import NotFound
from allot.draws import selectors as draw_selectors
from allot.draws.models import Draw, DrawFile

BUNDLE_FILES = draw_selectors.CONTENT_TYPES


def campaigns_listed() -> QuerySet[Campaign]:
    return campaign_selectors.campaigns_active().prefetch_related("eligibility_lists")


campaign_public = campaign_selectors.campaign_public
campaign_today = campaign_selectors.campaign_today
campaign_district = campaign_selectors.campaign_district


def campaign_outlets(*, campaign: Campaign, district_code: str, lat: float | None = None,
                     lng: float | None = None) -> list[campaign_selectors.OutletRow]:
    district = campaign_selectors.campaign_district(campaign=campaign, code=district_code)
    return campaign_selectors.outlets_with_stock(
        campaign=campaign, district_code=district.code, round_=campaign_selectors.round_current(campaign),
        lat=lat, lng=lng)


def draws_public(*, campaign_slug: str | None = None) -> QuerySet[Draw]:
    return draw_selectors.draws_public(campaign_slug=campaign_slug)


def _draw_not_found() -> NotFound:
    return NotFound(_("There is no draw with this id."), code="draw_not_found", field="draw_id")


def draw_public(*, draw_id: str) -> Draw:
    draw = draw_selectors.draw_public(draw_id=draw_id)
    if draw is None:
        raise _draw_not_found()
    return draw


def draw_file(*, draw_id: str, name: str) -> DrawFile:
    if draw_selectors.draw_public(draw_id=draw_id) is None:
        raise _draw_not_found()
    f = draw_selectors.draw_file_get(draw_id=draw_id, name=name)
    if f is None:
        raise NotFound(_("This draw has no file with this name (yet)."), code="file_not_found", field="name")
    return f
