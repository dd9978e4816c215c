"""Writes for campaigns: rounds and supply."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from allot.campaigns.models import Campaign, Round, Supply
from allot.core.audit import log_action
from allot.core.errors import Conflict
from allot.core.types import Actor
from allot.places.models import Outlet


def round_get_or_create(*, campaign: Campaign, draw_date: dt.date) -> Round:
    round_ = Round.objects.filter(campaign=campaign, draw_date=draw_date).first()
    if round_ is not None:
        return round_
    try:
        with transaction.atomic():
            round_ = Round.objects.create(campaign=campaign, draw_date=draw_date)
    except IntegrityError:
        return Round.objects.get(campaign=campaign, draw_date=draw_date)
    log_action("allot.round.created", obj=round_, data={"draw_date": draw_date.isoformat()})
    return round_


def round_for_registration(*, campaign: Campaign, now: dt.datetime) -> Round:
    """The round a registration made at ``now`` enters: the day's round by draw time, or — if that one has
    already been frozen (an early "draw now" in the demo, or a draw running late) — the next open one."""
    from allot.campaigns.selectors import draw_date_for

    day = draw_date_for(campaign, now)
    for _attempt in range(31):
        round_ = round_get_or_create(campaign=campaign, draw_date=day)
        if round_.state == Round.State.OPEN:
            return round_
        day += dt.timedelta(days=1)
    raise Conflict(_("No open round to register for; please try again later."), code="round_closed")


def supply_set(*, round_: Round, outlet: Outlet, packs: int, actor: Actor = None) -> Supply:
    """Release (or correct) an outlet's supply for a round. Refused once the round's entries are frozen."""
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        if locked.state != Round.State.OPEN:
            raise Conflict(_("This round is already being drawn; supply can no longer change."),
                           code="round_frozen")
        supply, _created = Supply.objects.update_or_create(round=locked, outlet=outlet, defaults={"packs": packs})
        log_action("allot.supply.set", obj=supply, actor=actor, data={"outlet": outlet.code, "packs": packs})
    return supply
