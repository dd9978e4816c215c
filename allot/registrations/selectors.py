"""Reads for registrations: what a resident's status page and the API show."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from allot.campaigns.models import Campaign, Round
from allot.campaigns.selectors import draw_moment
from allot.core.codes import group
from allot.identity import crypto
from allot.registrations.models import Registration

HEALTH_CONTEXT = "registration.health"


@dataclass(frozen=True)
class ConsentRow:
    kind: str          # id_number | health
    version: str
    at: dt.datetime


@dataclass(frozen=True)
class HealthView:
    returned: bool
    return_date: dt.date | None
    symptoms: bool


def registration_health(*, registration: Registration) -> HealthView | None:
    """The sealed health declaration, opened: for the resident's own record (and a lawful reveal)."""
    if not registration.health_sealed:
        return None
    data = json.loads(crypto.unseal(registration.health_sealed, context=HEALTH_CONTEXT))
    return HealthView(returned=bool(data["returned"]), symptoms=bool(data["symptoms"]),
                      return_date=dt.date.fromisoformat(data["return_date"]) if data.get("return_date") else None)


@dataclass(frozen=True)
class RegistrationStatus:
    """Everything a resident may see about their own registration (masked personal data only)."""

    number: str
    entry_id: str                # the random id in the published draw (for the inclusion proof)
    campaign_slug: str
    campaign_name: str
    status: str                  # registered | won | lost | excluded | withdrawn
    status_label: str
    name_masked: str
    id_masked: str
    phone_masked: str
    district_code: str
    district_name: str
    outlet_code: str | None      # chosen pharmacy
    outlet_name: str | None
    accept_any: bool
    draw_date: dt.date
    draw_at: dt.datetime
    weight: int
    created_at: dt.datetime
    can_withdraw: bool
    # when won
    pickup_code: str | None = None
    pickup_code_grouped: str | None = None
    pickup_outlet_code: str | None = None
    pickup_outlet_name: str | None = None
    pickup_outlet_address: str | None = None
    pickup_from: dt.datetime | None = None
    pickup_until: dt.datetime | None = None
    redeemed_at: dt.datetime | None = None
    # when lost and rolled over
    rolled_over_to_number: str | None = None
    rolled_over_to_date: dt.date | None = None
    draw_id: str | None = None
    channel: str = ""
    channel_label: str = ""
    consents: tuple[ConsentRow, ...] = ()
    rolled_from_date: dt.date | None = None   # the draw this one was rolled over from (not drawn there)
    health: HealthView | None = None


def registration_status(*, registration: Registration) -> RegistrationStatus:
    r = registration
    round_ = r.round
    pc = getattr(r, "pickup", None) if r.status == Registration.Status.WON else None
    rolled = getattr(r, "rolled_to", None)
    draw = getattr(round_, "draw", None)
    return RegistrationStatus(
        number=r.number, entry_id=r.entry_id, campaign_slug=r.campaign.slug, campaign_name=r.campaign.name,
        status=r.status,
        status_label=str(r.get_status_display()), name_masked=r.person.name_masked, id_masked=r.person.id_masked,
        phone_masked=r.person.phone_masked, district_code=r.district_id, district_name=r.district.name,
        outlet_code=r.outlet.code if r.outlet else None, outlet_name=r.outlet.name if r.outlet else None,
        accept_any=r.accept_any, draw_date=round_.draw_date, draw_at=draw_moment(round_), weight=r.weight,
        created_at=r.created_at,
        can_withdraw=r.status == Registration.Status.REGISTERED and round_.state == Round.State.OPEN,
        pickup_code=pc.code if pc else None, pickup_code_grouped=group(pc.code) if pc else None,
        pickup_outlet_code=pc.outlet.code if pc else None, pickup_outlet_name=pc.outlet.name if pc else None,
        pickup_outlet_address=pc.outlet.address if pc else None,
        pickup_from=pc.valid_from if pc else None, pickup_until=pc.valid_until if pc else None,
        redeemed_at=pc.redeemed_at if pc else None,
        rolled_over_to_number=rolled.number if rolled else None,
        rolled_over_to_date=rolled.round.draw_date if rolled else None,
        draw_id=draw.draw_id if draw and draw.state == "published" else None,
        channel=r.channel, channel_label=str(r.get_channel_display()),
        consents=tuple([ConsentRow("id_number", r.consent_version, r.consent_at)]
                       + ([ConsentRow("health", r.consent_health_version, r.consent_health_at)]
                          if r.consent_health_at else [])),
        health=registration_health(registration=r),
        rolled_from_date=r.rolled_from.round.draw_date if r.rolled_from_id and r.rolled_from else None,
    )


def registration_for_status(*, pk: int) -> Registration:
    return (Registration.objects.select_related("campaign", "round__campaign", "round__draw", "person", "district",
                                                "outlet", "pickup__outlet", "rolled_to__round",
                                                "rolled_from__round")
            .get(pk=pk))


def registration_latest_of(*, campaign: Campaign, person_pk: int) -> Registration | None:
    """A person's latest registration in a campaign (the resident's own record)."""
    return (Registration.objects.filter(campaign=campaign, person_id=person_pk)
            .order_by("-round__draw_date", "-created_at").first())
