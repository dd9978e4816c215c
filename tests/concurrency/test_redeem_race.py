"""8 processes redeeming the same pickup code: exactly one succeeds.

First a naive read-check-write redemption (the guard removed) is shown to hand out several units; then the
real service, whose conditional UPDATE is the guard, gives exactly one success."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import time

import pytest
from django.db import connections
from django.utils import timezone

from allot.campaigns.selectors import draw_date_for
from allot.campaigns.services import round_get_or_create, supply_set
from allot.core.errors import DomainError
from allot.draws.services import draw_run_now
from allot.pickup.models import PickupCode
from allot.pickup.services import pickup_redeem
from allot.registrations.services import registration_create
from tests.conftest import registration_request

PROCS = 8


def _naive_redeem(code: str, clerk) -> PickupCode:
    """The unguarded version: read, check, then write."""
    pc = PickupCode.objects.get(code=code)
    if pc.redeemed_at is not None:
        raise DomainError("already", code="already_redeemed")
    time.sleep(0.05)  # the work between check and write (printing a receipt, logging) widens the window
    pc.redeemed_at, pc.redeemed_by = timezone.now(), clerk
    pc.save(update_fields=["redeemed_at", "redeemed_by"])
    return pc


def _child(code: str, clerk_pk: int, naive: bool, barrier, results) -> None:
    from django.contrib.auth import get_user_model

    clerk = get_user_model().objects.select_related("staff").get(pk=clerk_pk)
    barrier.wait()
    try:
        if naive:
            _naive_redeem(code, clerk)
        else:
            pickup_redeem(code=code, clerk=clerk, nonce="")
        results.put("ok")
    except DomainError as exc:
        results.put(exc.code)
    finally:
        connections.close_all()


def _race(code: str, clerk_pk: int, naive: bool) -> list[str]:
    ctx = mp.get_context("fork")
    connections.close_all()  # children open their own connections
    barrier, results = ctx.Barrier(PROCS), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(code, clerk_pk, naive, barrier, results)) for _ in range(PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    return sorted(results.get(timeout=5) for _ in procs)


@pytest.fixture
def winner_code(xiamen, clerk_factory):
    c = xiamen.campaign
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=1)
    registration_create(campaign=c, request=registration_request(1))
    draw_run_now(campaign=c, now=timezone.now() - dt.timedelta(seconds=5))
    clerk = clerk_factory(xiamen.outlets[0])
    return PickupCode.objects.get().code, clerk.pk


@pytest.mark.django_db(transaction=True)
def test_naive_redemption_hands_out_more_than_once(winner_code):
    code, clerk_pk = winner_code
    outcomes = _race(code, clerk_pk, naive=True)
    assert outcomes.count("ok") > 1, outcomes


@pytest.mark.django_db(transaction=True)
def test_8_processes_redeeming_one_code_give_exactly_one_success(winner_code):
    code, clerk_pk = winner_code
    outcomes = _race(code, clerk_pk, naive=False)
    assert outcomes.count("ok") == 1, outcomes
    assert outcomes.count("already_redeemed") == PROCS - 1, outcomes
    assert PickupCode.objects.get(code=code).redeemed_at is not None
