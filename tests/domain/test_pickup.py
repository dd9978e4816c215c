"""Pickup redemption: once, at the right outlet, inside the window, with specific errors."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from allot.campaigns.selectors import draw_date_for
from allot.campaigns.services import round_get_or_create, supply_set
from allot.core.errors import DomainError
from allot.draws.services import draw_run_now
from allot.pickup.models import PickupCode
from allot.pickup.services import pickup_redeem
from allot.registrations.services import registration_create
from tests.conftest import registration_request


@pytest.fixture
def code(xiamen):
    c = xiamen.campaign
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=1)
    registration_create(campaign=c, request=registration_request(1))
    draw_run_now(campaign=c)
    return PickupCode.objects.get()


def _err(**kw) -> str:
    with pytest.raises(DomainError) as exc:
        pickup_redeem(**kw)
    return exc.value.code


def test_code_has_50_random_bits_in_a_readable_alphabet(code):
    assert len(code.code) == 10 and not set(code.code) & set("01OI")


def test_redeems_once_then_says_when(code, clerk_factory, xiamen):
    clerk = clerk_factory(xiamen.outlets[0])
    pc = pickup_redeem(code=code.code.lower()[:5] + "-" + code.code[5:], clerk=clerk)
    assert pc.redeemed_at is not None and pc.redeemed_by == clerk
    with pytest.raises(DomainError) as exc:
        pickup_redeem(code=code.code, clerk=clerk)
    assert exc.value.code == "already_redeemed" and exc.value.status == 409
    local = pc.redeemed_at.astimezone(xiamen.campaign.tz).strftime("%H:%M")
    assert local in str(exc.value.message)


def test_retry_with_the_same_nonce_is_the_same_success(code, clerk_factory, xiamen):
    clerk = clerk_factory(xiamen.outlets[0])
    first = pickup_redeem(code=code.code, clerk=clerk, nonce="n-1")
    again = pickup_redeem(code=code.code, clerk=clerk, nonce="n-1")
    assert again.redeemed_at == first.redeemed_at


def test_wrong_outlet(code, clerk_factory, xiamen):
    assert _err(code=code.code, clerk=clerk_factory(xiamen.outlets[1])) == "wrong_outlet"
    code.refresh_from_db()
    assert code.redeemed_at is None


def test_not_yet_valid_and_expired(code, clerk_factory, xiamen):
    clerk = clerk_factory(xiamen.outlets[0])
    assert _err(code=code.code, clerk=clerk, now=code.valid_from - dt.timedelta(seconds=1)) == "not_yet_valid"
    assert _err(code=code.code, clerk=clerk, now=code.valid_until) == "expired"


def test_unknown_and_empty_codes(code, clerk_factory, xiamen):
    clerk = clerk_factory(xiamen.outlets[0])
    assert _err(code="ZZZZZ-ZZZZZ", clerk=clerk) == "code_unknown"
    assert _err(code="  ", clerk=clerk) == "code_required"


def test_only_clerks_redeem(code, db):
    user = get_user_model().objects.create_user(username="someone", password="x-123456789")
    assert _err(code=code.code, clerk=user, now=timezone.now()) == "not_a_clerk"
