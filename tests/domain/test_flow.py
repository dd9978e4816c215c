"""End to end through the services: register, draw, redeem."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from allot.campaigns.models import Round, Supply
from allot.campaigns.selectors import draw_date_for
from allot.campaigns.services import round_get_or_create, supply_set
from allot.draws.models import Draw
from allot.draws.services import draw_run_now
from allot.pickup.services import pickup_redeem
from allot.registrations.models import Registration
from allot.registrations.services import registration_create
from tests.conftest import registration_request


def test_register_draw_redeem(xiamen, clerk_factory, django_capture_on_commit_callbacks):
    c = xiamen.campaign
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=2)
    regs = [registration_create(campaign=c, request=registration_request(i)) for i in range(1, 6)]
    assert {r.round_id for r in regs} == {round_.pk}

    with django_capture_on_commit_callbacks(execute=True):
        draw = draw_run_now(campaign=c)

    assert draw.state == Draw.State.PUBLISHED
    assert draw.winners == 2
    won = Registration.objects.filter(round=round_, status=Registration.Status.WON)
    assert won.count() == 2
    assert Supply.objects.get(round=round_, outlet=xiamen.outlets[0]).allocated == 2
    nxt = Round.objects.get(campaign=c, draw_date=round_.draw_date + dt.timedelta(days=1))
    assert nxt.registrations.filter(channel="rollover").count() == 3
    draw.refresh_from_db()
    assert draw.verified_at is not None, draw.verify_summary
    assert "SYNTHETIC" in draw.verify_summary
    clerk = clerk_factory(xiamen.outlets[0])
    code = won.first().pickup.code
    redeemed = pickup_redeem(code=code, clerk=clerk, now=timezone.now())
    assert redeemed.redeemed_at is not None
