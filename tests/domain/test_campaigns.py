"""Campaign time rules and supply."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from allot.campaigns.models import Round
from allot.campaigns.selectors import draw_date_for, in_maintenance, pickup_window
from allot.campaigns.services import round_for_registration, round_get_or_create, supply_set
from allot.core.errors import Conflict
from allot.core.models import AuditLog

SH = zoneinfo.ZoneInfo("Asia/Shanghai")


def test_maintenance_window_wraps_midnight(xiamen):
    c = xiamen.campaign
    c.maintenance_start, c.maintenance_end = dt.time(22, 0), dt.time(0, 0)
    assert in_maintenance(c, dt.datetime(2026, 11, 25, 22, 0, tzinfo=SH))
    assert in_maintenance(c, dt.datetime(2026, 11, 25, 23, 59, tzinfo=SH))
    assert not in_maintenance(c, dt.datetime(2026, 11, 26, 0, 0, tzinfo=SH))
    assert not in_maintenance(c, dt.datetime(2026, 11, 25, 21, 59, tzinfo=SH))


def test_draw_date_follows_the_campaign_zone_not_utc(xiamen):
    # 00:30 UTC is 08:30 in Xiamen: still before today's 09:00 draw there.
    assert draw_date_for(xiamen.campaign, dt.datetime(2026, 11, 25, 0, 30, tzinfo=dt.UTC)) == dt.date(2026, 11, 25)
    assert draw_date_for(xiamen.campaign, dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)) == dt.date(2026, 11, 26)


def test_pickup_window_is_next_day_08_to_22_local(xiamen):
    round_ = round_get_or_create(campaign=xiamen.campaign, draw_date=dt.date(2026, 11, 25))
    start, end = pickup_window(round_)
    assert start == dt.datetime(2026, 11, 26, 8, 0, tzinfo=SH) and end == dt.datetime(2026, 11, 26, 22, 0, tzinfo=SH)


def test_supply_is_audited_and_frozen_with_the_round(xiamen):
    round_ = round_get_or_create(campaign=xiamen.campaign, draw_date=dt.date(2026, 11, 25))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=10)
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=12)
    assert round_.supplies.get().packs == 12
    assert AuditLog.objects.filter(action="allot.supply.set").count() == 2
    Round.objects.filter(pk=round_.pk).update(state=Round.State.FROZEN)
    with pytest.raises(Conflict) as exc:
        supply_set(round_=round_, outlet=xiamen.outlets[0], packs=1)
    assert exc.value.code == "round_frozen"


def test_registration_skips_a_round_that_is_already_frozen(xiamen):
    now = dt.datetime(2026, 11, 25, 8, 0, tzinfo=SH)
    today = round_for_registration(campaign=xiamen.campaign, now=now)
    Round.objects.filter(pk=today.pk).update(state=Round.State.FROZEN)
    assert round_for_registration(campaign=xiamen.campaign, now=now).draw_date == dt.date(2026, 11, 26)
