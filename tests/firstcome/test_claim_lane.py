"""The claim lane (``allot.api.v1.claim_lane``, served by config/asgi.py): admitted API claims answered on the event
loop, exactly as Django answers them — same status, headers and body — everything else handed to Django; its
admission (a cap, a late loop) answered busy at once; Redis down refused with 503; a refusal counted."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import re
import threading
import time

import pytest
from django.core.cache import cache
from django.test import override_settings

from allot.firstcome import gate, services
from allot.firstcome.models import Claim, Quota
from allot.firstcome.services import claim_create
from tests.abuse.proof import solved
from tests.firstcome.hangzhou import SLUG, build_hangzhou, claim_body, claim_request, clear_caches, redis_gone
from tests.firstcome.lane import URL, _closing, call, call_many, code, request

# what differs from answer to answer whoever gives it
_PER_ANSWER = {"content-length", "retry-after"}


@pytest.fixture(autouse=True)
def _fresh():
    from allot.core import admission

    clear_caches()
    admission.replies_clear()   # the answers kept to replay (busy, sold out) belong to the test that had them built
    services._claim_writer.batches = services._claim_writer.jobs = 0
    yield
    clear_caches()
    admission.replies_clear()


def _same_but_the_claim(body: bytes) -> object:
    """The body with what differs from claim to claim (its number, its parcel's number, the time) blanked."""
    return json.loads(re.sub(r'"(number|created_at)": "[^"]*"', r'"\1": "…"', body.decode()))


def _assert_same(lane, django) -> None:
    assert lane[0] == django[0]
    assert {k: v for k, v in lane[1].items() if k not in _PER_ANSWER} == {
        k: v for k, v in django[1].items() if k not in _PER_ANSWER}
    assert lane[1]["content-length"] == str(len(lane[2]))
    assert _same_but_the_claim(lane[2]) == _same_but_the_claim(django[2])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_lane_answers_as_django_does_and_django_sees_only_the_first_claim(served, plain, language):
    # given: a campaign with units for everyone
    build_hangzhou(quota=10)

    # when: the first claim (Django answers it; the lane learns its headers), then a claim, the same person again,
    # a bad proof and a refused ID number — each also sent to Django alone as another resident
    first = call(served.lane, claim_body(1), language=language)
    after_first = served.django_calls
    pairs = [
        (call(served.lane, claim_body(2), language=language), call(plain, claim_body(12), language=language)),
        (call(served.lane, claim_body(2), language=language), call(plain, claim_body(12), language=language)),
        (call(served.lane, claim_body(3, altcha="x"), language=language),
         call(plain, claim_body(13, altcha="x"), language=language)),
        (call(served.lane, claim_body(4, id_number="110101199003071234"), language=language),
         call(plain, claim_body(14, id_number="110101199003071234"), language=language)),
    ]

    # then: Django answered only the first claim, and built once the busy answer of their key, ahead of need
    # (``_busy_ahead``); every other answer is Django's own but for the claim itself
    assert first[0] == 201 and after_first == 1
    assert served.django_calls == 2
    assert [lane[0] for lane, _django in pairs] == [201, 409, 400, 400]
    for lane, django in pairs:
        _assert_same(lane, django)
    assert [code(pairs[n][0]) for n in (1, 2, 3)] == ["already_claimed", "altcha_invalid", "id_number_checksum"]
    assert pairs[1][0][1]["content-language"] == ("en" if language == "en" else "zh-hans")
    assert Claim.objects.count() == 3   # 1, 2 and 12, nobody else
    assert services._claim_writer.jobs >= 2


@pytest.mark.django_db(transaction=True)
def test_at_the_opening_one_claim_teaches_the_headers_and_the_others_wait_for_it(served):
    # given
    build_hangzhou(quota=20)

    # when: twelve residents at once, before the lane has seen any answer of Django's
    answers = call_many(served.lane, [claim_body(n) for n in range(1, 13)])

    # then: all accepted; only one went to Django (and the lane had it build their busy answer ahead of need)
    assert [a[0] for a in answers] == [201] * 12
    assert served.django_calls == 1 + 1
    assert Claim.objects.count() == 12


def _held_writer_claims(served, people: range) -> list:
    """``people`` claim while the thread writer is held (the process's SQLite writer lock, which it takes for every
    batch): the first claim is sent alone and the writer takes it and waits for the lock; then the others are sent
    and queue behind it. Once the lock is let go they are written in two batches: the first claim's, then all the
    others'. Their answers, in the order of ``people``, once all are written."""
    w = services._claim_writer
    jobs = w.jobs
    first, rest = people[0], people[1:]

    async def run() -> list:
        deadline = time.monotonic() + 20
        lead = asyncio.ensure_future(request(served.lane, claim_body(first)))
        while w.jobs < jobs + 1:   # the writer has taken the first claim, and waits for the lock
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        others = [asyncio.ensure_future(request(served.lane, claim_body(n))) for n in rest]
        while len(w._queue) < len(rest):   # all the others queued behind it
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        held.release()
        return list(await asyncio.gather(lead, *others))

    held = services._sqlite_writer
    held.acquire()
    try:
        return asyncio.run(_closing(served.lane, run()))
    finally:
        if held.locked():   # the run failed before letting it go
            held.release()


@pytest.mark.django_db(transaction=True)
def test_claims_that_arrive_together_are_written_in_one_batch(served):
    # given: the headers learned
    build_hangzhou(quota=30)
    assert call(served.lane, claim_body(1))[0] == 201
    batches, jobs = services._claim_writer.batches, services._claim_writer.jobs

    # when: twenty claims at once, while the writer is held
    answers = _held_writer_claims(served, range(2, 22))

    # then: all accepted, in two batches (the first one taken, then everything that queued behind it)
    assert [a[0] for a in answers] == [201] * 20
    assert services._claim_writer.jobs - jobs == 20
    assert services._claim_writer.batches - batches == 2


@pytest.mark.django_db(transaction=True)
def test_past_its_cap_the_lane_answers_busy_at_once_as_django_does(served):
    # given: the headers learned, then no room left in the lane
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    served.lane.cap = 0
    calls = served.django_calls

    # when: two claims
    first, second = call(served.lane, claim_body(2)), call(served.lane, claim_body(3))

    # then: both busy with a Retry-After; Django built the first (the lane replays it, filled in, for the second)
    for answer in (first, second):
        assert answer[0] == 503 and code(answer) == "busy"
        assert 2 <= int(answer[1]["retry-after"]) <= 60
    assert served.django_calls == calls + 1
    assert {k: v for k, v in first[1].items() if k not in _PER_ANSWER} == {
        k: v for k, v in second[1].items() if k not in _PER_ANSWER}
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_busy_answers_at_once_have_django_build_one_and_the_others_wait_for_it(served):
    # given: the headers learned, then no room left in the lane; no busy answer built yet for this campaign
    from allot.core import admission

    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    served.lane.cap = 0
    calls = served.django_calls

    # when: twenty claims at once
    answers = call_many(served.lane, [claim_body(n) for n in range(2, 22)])

    # then: all busy; Django built one answer, the lane gave the others from it
    assert [(a[0], code(a)) for a in answers] == [(503, "busy")] * 20
    assert served.django_calls == calls + 1

    # when: the kept answer has expired, and ten more claims come at once
    for key, busy in list(admission._busy.items()):
        admission._busy[key] = dataclasses.replace(busy, until=time.monotonic() - 1)
    again = call_many(served.lane, [claim_body(n) for n in range(22, 32)])

    # then: one of them had Django build it again, the others got the one it built last meanwhile
    assert [(a[0], code(a)) for a in again] == [(503, "busy")] * 10
    assert served.django_calls == calls + 2
    assert all(b.until > time.monotonic() for b in admission._busy.values())
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_event_loop_running_late_refuses_new_claims_until_it_catches_up(served):
    # given: the headers learned
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201

    # when: the loop's lag reads above the limit (the lane's timer keeps measuring it; a tiny limit stands in for
    # a loop that is behind)
    served.lane.max_lag = -1.0
    late = call(served.lane, claim_body(2))
    served.lane.max_lag = 10.0
    caught_up = call(served.lane, claim_body(3))

    # then
    assert late[0] == 503 and code(late) == "busy"
    assert caught_up[0] == 201
    assert Claim.objects.count() == 2


def _interval(drain, answered: int, *, refused: bool, seconds: float = 0.1, took: float | None = None) -> int:
    """``answered`` claims answered evenly over the next ``seconds`` (the last just past it), each after a refusal
    if ``refused``, and accepted after ``took`` seconds in the lane if ``took`` is given; the drain's limit after
    them."""
    t = drain._since
    for i in range(1, answered + 1):
        if refused:
            drain.refused()
        drain.answered(t + seconds * i / answered + (1e-6 if i == answered else 0), took)
    return drain.limit


def test_a_lane_whose_every_claim_waits_for_a_slow_round_trip_grows_instead_of_starving():
    from allot.api.v1.claim_lane import _Drain

    drain = _Drain(target=0.05, floor=8, cap=48)
    drain.arrived(1.0, 0)
    # given: every core busy refusing a surge, so a batch's round trip to Redis and PostgreSQL takes 0.3 s however
    # many claims it carries: 8 held -> 8 answered in an interval of 0.1 s... each 0.3 s after it came in
    # when / then: the lane holds what it answers in the quickest claim's time plus the target (80/s × 0.35 s = 28),
    # growing at most twice a step; with 16 held it answers 16 in the same round trip, and so on up to the cap.
    # (Without the round trip taken as the base, 80/s × 0.05 s = 4: the floor of 8, 80 claims a second, for good.)
    assert _interval(drain, 8, refused=True, took=0.3) == 16
    assert _interval(drain, 16, refused=True, took=0.3) == 32
    assert _interval(drain, 32, refused=True, took=0.3) == 48
    assert drain.base == pytest.approx(0.3)


def test_the_base_is_the_quickest_accepted_claim_of_the_last_seconds_and_only_that():
    from allot.api.v1.claim_lane import _Drain

    drain = _Drain(target=0.05, floor=8, cap=48)
    drain.arrived(1.0, 0)
    assert [_interval(drain, 100, refused=False, took=0.01) for _ in range(3)] == [16, 32, 48]
    assert drain.base == pytest.approx(0.01)
    # given: claims that wait because the lane holds many (the quickest took 10 ms, they answer 300 a second): it
    # holds 300 × (0.01 + 0.05) = 18, not more — the base is the quickest claim, not the usual one
    assert _interval(drain, 30, refused=True, took=0.01) == 18
    # answers that were no acceptance (a second claim of one person, refused in a millisecond) set no base
    for _ in range(25):
        _interval(drain, 30, refused=True, took=None)
    assert drain.base == 0.0   # and the quick claim of over BASE_WINDOW (2 s) ago is forgotten
    assert _interval(drain, 30, refused=True, took=None) == 15   # 300 × 0.05
    # a lane idle for over a second starts again with no base
    _interval(drain, 30, refused=True, took=0.2)
    assert drain.base == pytest.approx(0.2)
    drain.arrived(drain._since + _Drain.IDLE + 0.01, 0)
    assert drain.base == 0.0 and drain.limit == 8


def test_while_the_lane_refuses_it_holds_what_it_answers_in_its_target_time():
    from allot.api.v1.claim_lane import _Drain

    drain = _Drain(target=0.05, floor=8, cap=48)
    # given: a lane past its start (intervals without a refusal at 1,000 claims a second: grown to the cap)
    drain.arrived(1.0, 0)
    assert [_interval(drain, 100, refused=False) for _ in range(4)] == [16, 32, 48, 48]
    # a saturated interval: 200 claims answered (2,000/s) with refusals -> 2,000/s × 0.05 s = 100, capped
    assert _interval(drain, 200, refused=True) == 48
    # under ten times the load the loop answers 300 claims a second: 30 in the interval -> 15 held
    assert _interval(drain, 30, refused=True) == 15
    # 10 a second would be 0.5 held: never below the floor
    assert _interval(drain, 1, refused=True) == 8
    # the load gone: each interval without a refusal doubles what it holds, up to the cap
    assert [_interval(drain, 50, refused=False) for _ in range(3)] == [16, 32, 48]


def test_a_fresh_or_idle_lane_starts_from_its_floor_and_a_stalled_one_is_not_taken_for_idle():
    from allot.api.v1.claim_lane import _Drain

    drain = _Drain(target=0.05, floor=8, cap=48)
    # a process's first claims: it holds the floor, not its cap (at an opening, 48 claims at once each waited for
    # the checks of all the others: the last was answered 0.3 s later)
    drain.arrived(10.0, 0)
    assert drain.limit == 8
    # refusing while it answers 160 claims a second: 8 held (160 × 0.05)
    assert _interval(drain, 16, refused=True) == 8
    # answering 400 a second: 20 would wait 50 ms, but it grows at most twice a step: 16, then 20
    assert _interval(drain, 40, refused=True) == 16
    assert _interval(drain, 40, refused=True) == 20
    # a stall: claims in the lane and refusals, but the next answer only 0.6 s later: 3 claims a second over it,
    # the floor (a lane that answered nothing for longer than an interval was taken for idle and kept its limit)
    assert _interval(drain, 1, refused=True, seconds=0.6) == 8
    # then the lane idle for over a second with nothing in it: the next claim finds it back at the floor
    assert [_interval(drain, 50, refused=False) for _ in range(2)] == [16, 32]
    drain.arrived(drain._since + _Drain.IDLE + 0.01, 0)
    assert drain.limit == 8


@pytest.mark.django_db(transaction=True)
def test_a_fresh_lane_admits_its_floor_of_claims_at_once_and_answers_the_rest_busy():
    # given: a lane as config/asgi.py builds it, with the default start (ALLOT_LANE_MIN_IN_FLIGHT: 8)
    from tests.firstcome.lane import Served

    build_hangzhou(quota=20)
    served = Served(min_in_flight=None)
    try:
        # when: twelve residents at once, at a process's first claims
        answers = call_many(served.lane, [claim_body(n) for n in range(1, 13)])
    finally:
        served.close()

    # then: eight held and accepted; four answered busy at once, with a Retry-After, and nothing taken for them
    assert sorted(a[0] for a in answers) == [201] * 8 + [503] * 4
    assert all(code(a) == "busy" and "retry-after" in a[1] for a in answers if a[0] == 503)
    assert served.lane.stats["busy:drain"] == 4
    assert Claim.objects.count() == 8


@pytest.mark.django_db(transaction=True)
def test_the_first_claim_the_lane_answers_has_django_build_its_busy_answer_ahead_of_the_first_refusal(served):
    # given: the headers learned (Django answered the first claim)
    from allot.core import admission

    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    assert not admission._busy

    # when: a claim the lane answers; then the lane is full and a claim is refused
    accepted = call(served.lane, claim_body(2))
    calls = served.django_calls
    served.lane.cap = 0
    refused = call(served.lane, claim_body(3))

    # then: the busy answer of their key was built with the accepted claim, so the refusal needed no Django
    assert accepted[0] == 201 and len(admission._busy) == 1
    assert refused[0] == 503 and code(refused) == "busy"
    assert served.django_calls == calls
    assert Claim.objects.count() == 2


def test_a_released_job_s_claim_and_parcel_are_freed_without_the_garbage_collector():
    # given: a job's claim and parcel, built as the claim path builds them (the parcel caches its claim, the claim
    # its parcel)
    import gc
    import weakref

    from allot.core.rows import instance
    from allot.delivery.addresses import Address
    from allot.delivery.services import parcel_build
    from allot.firstcome.writer import ClaimJob, job_release
    from allot.identity.models import Person

    claim = instance(Claim, {"number": "X1", "units": 1})
    address = Address(district_code="330106", district_name="西湖区", street_id=None, street_name="",
                      committee_id=None, committee_name="", building="1", unit="", room="101", line="")
    job = ClaimJob(person=Person(), claim=claim, parcel=parcel_build(claim=claim, address=address), audit_data={},
                   actor_label="", fallback=Claim)
    claim_ref, parcel_ref = weakref.ref(job.claim), weakref.ref(job.parcel)
    assert job.claim.parcel is job.parcel and job.parcel.claim is job.claim

    gc.disable()
    try:
        # when: its answer built, the job released and dropped
        job_release(job)
        del job, claim
        # then: reference counting freed both (no collection ran)
        assert claim_ref() is None and parcel_ref() is None
    finally:
        gc.enable()


def test_checking_on_the_event_loop_whether_the_loop_writer_is_used_builds_no_database_connection():
    # given: twenty requests' tasks on an event loop (Django keeps its connections per task there)
    import gc

    from django.db.backends.base.base import BaseDatabaseWrapper

    from allot.firstcome import loop_writer

    def wrappers() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, BaseDatabaseWrapper))

    async def each() -> bool:
        return loop_writer.usable()

    async def twenty() -> list[bool]:
        return list(await asyncio.gather(*(each() for _ in range(20))))

    gc.collect()
    before = wrappers()
    gc.disable()
    try:
        # when: each asks
        asyncio.run(twenty())
        # then: no DatabaseWrapper was built for any of them (each was seven objects in a cycle, for the collector)
        assert wrappers() == before
    finally:
        gc.enable()


@pytest.mark.django_db(transaction=True)
def test_claims_past_what_the_lane_answers_in_its_target_time_are_answered_busy(served):
    # given: the headers learned; the lane measured as saturated, answering what holds 1 claim in its target time
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    served.lane._drain.limit = 1
    served.lane.in_flight = 1   # one claim in the lane already

    # when: a claim arrives; then the lane has caught up
    late = call(served.lane, claim_body(2))
    served.lane.in_flight = 0
    next_one = call(served.lane, claim_body(3))

    # then: busy at once, counted as the drain's refusal; then accepted
    assert late[0] == 503 and code(late) == "busy" and "retry-after" in late[1]
    assert served.lane.stats["busy:drain"] == 1
    assert next_one[0] == 201 and Claim.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_sold_out_for_today_is_replayed_without_django(served):
    # given: two units, taken (the second claim had Django build the busy answer ahead, before any flag); the next
    # claim finds none (the lane answers, and the area is flagged sold out)
    build_hangzhou(quota=2)
    assert [call(served.lane, claim_body(n))[0] for n in (1, 2)] == [201, 201]
    sold = call(served.lane, claim_body(20))
    calls = served.django_calls

    # when: more claims; the first meets the flag, so Django's admission gate answers it and marks its answer
    # replayable; the lane replays it to the others
    again = [call(served.lane, claim_body(n)) for n in (3, 4, 5, 6)]

    # then: the same refusal every time, and Django saw only the first after the flag
    assert sold[0] == 409 and code(sold) == "sold_out"
    assert [a[0] for a in again] == [409] * 4 and all(a == again[0] for a in again)
    assert json.loads(again[0][2]) == json.loads(sold[2])
    assert served.django_calls == calls + 1
    assert served.lane.stats["replayed"] == 3


@pytest.mark.django_db(transaction=True)
def test_claims_that_meet_the_sold_out_flag_at_once_have_django_answer_one_and_get_its_answer(served):
    # given: one unit, taken; the next claim finds none and flags the campaign sold out; nothing kept yet
    from allot.core import admission

    build_hangzhou(quota=1)
    assert call(served.lane, claim_body(1))[0] == 201
    sold = call(served.lane, claim_body(2))
    admission.replies_clear()
    calls = served.django_calls

    # when: twenty claims at once
    answers = call_many(served.lane, [claim_body(n) for n in range(3, 23)])

    # then: Django answered one of them and kept its answer; the lane gave that answer to the others, byte for byte
    assert sold[0] == 409 and code(sold) == "sold_out"
    assert [a[0] for a in answers] == [409] * 20 and all(a == answers[0] for a in answers)
    assert json.loads(answers[0][2]) == json.loads(sold[2])
    # Django was asked once for the claims, and once more, in the background, for the busy answer the lane keeps
    # ahead of need (replies_clear dropped it). Whichever of the two Django ends first keeps the "sold out" answer
    # (its gate answers both so); when that one ends before the other is sent, the kept answer answers the other
    # without Django (CI saw this once: 3 calls where 4 were asserted).
    assert served.django_calls in (calls + 1, calls + 2)
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_claims_a_full_lane_cannot_hold_after_the_sell_out_are_told_sold_out_not_to_come_back(served):
    # given: one unit, taken, and the campaign flagged sold out; the kept "sold out" answer gone (as after a quiet
    # minute); a lane that holds no claim now (as one starting again from its floor under a crowd)
    from allot.core import admission

    build_hangzhou(quota=1)
    assert call(served.lane, claim_body(1))[0] == 201
    sold = call(served.lane, claim_body(2))
    admission.replies_clear()
    served.lane.cap = 0

    # when: ten claims at once
    answers = call_many(served.lane, [claim_body(n) for n in range(3, 13)])

    # then: every one is told the truth, sold out for today, as Django told the second; none "busy, come back"
    assert sold[0] == 409 and code(sold) == "sold_out"
    assert [a[0] for a in answers] == [409] * 10 and all(a == answers[0] for a in answers)
    assert json.loads(answers[0][2]) == json.loads(sold[2])
    assert served.lane.stats["busy"] == 0 and served.lane.stats["sold out:refused"] == 10
    assert Claim.objects.count() == 1


def _sold_out_then_quiet(served, monkeypatch) -> None:
    """One unit, taken; the second claim found none (this process's writer learned the sell-out); then a quiet
    spell longer than every flag: this process's (its life shortened to 0.2 s), the shared copy, the kept answer."""
    from allot.core import admission

    monkeypatch.setattr(gate, "LOCAL_TTL", 0.2)
    build_hangzhou(quota=1)
    assert call(served.lane, claim_body(1))[0] == 201
    assert call(served.lane, claim_body(2))[0] == 409
    time.sleep(0.3)
    admission.replies_clear()
    cache.clear()
    served.lane.cap = 0   # a lane that holds no claim now, as one starting again from its floor under a crowd


@pytest.mark.django_db(transaction=True)
def test_after_the_flags_lapse_a_lane_that_knew_the_sell_out_asks_the_record_once_and_tells_the_truth(
        served, monkeypatch):
    # given
    _sold_out_then_quiet(served, monkeypatch)
    day = Quota.objects.get().day
    assert not gate.is_sold_out(slug=SLUG, day=day, scope_key=gate.WHOLE)
    assert gate.whole_sold_out_seen(slug=SLUG) == day
    calls = served.django_calls

    # when: ten claims at once that the full lane cannot hold
    answers = call_many(served.lane, [claim_body(n) for n in range(4, 14)])

    # then: one look at the record of truth (the day's quota rows) for all ten, and each is told "sold out for
    # today", as Django tells it; none "busy, come back" (before: all ten busy); the flag is set again
    assert [code(a) for a in answers] == ["sold_out"] * 10
    assert served.lane.stats["sold out:rechecked"] == 1
    assert served.lane.stats["busy"] == 0
    assert gate.is_sold_out(slug=SLUG, day=day, scope_key=gate.WHOLE)
    assert served.django_calls == calls + 1   # the "sold out" answer built once, then replayed
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_lane_that_knew_the_sell_out_says_busy_again_once_the_record_shows_units_back(served, monkeypatch):
    # given: the sell-out learned, the flags lapsed, and one unit back on the record (an operator's top-up)
    _sold_out_then_quiet(served, monkeypatch)
    Quota.objects.update(units=2)

    # when: claims the full lane cannot hold, at once and then one by one
    together = call_many(served.lane, [claim_body(n) for n in range(4, 9)])
    later = [call(served.lane, claim_body(n)) for n in (9, 10)]

    # then: the record was read once; a unit is left, so "busy, come back", not "sold out"; and the lane stopped
    # asking the record (it no longer takes the campaign for sold out)
    assert [code(a) for a in together + later] == ["busy"] * 7
    assert served.lane.stats["sold out:rechecked"] == 1
    assert served.lane.stats["sold out:refused"] == 0
    assert gate.whole_sold_out_seen(slug=SLUG) is None


@pytest.mark.django_db(transaction=True)
def test_a_lane_that_never_learned_of_the_sell_out_asks_the_record_before_it_tells_a_crowd_busy(served):
    # given: the day's one unit taken elsewhere (another process's claim: this one has no flag, no memory of the
    # sell-out, not even the campaign in its cache), the flags' shared copy lapsed; a lane that holds no claim now
    claim_create(campaign=build_hangzhou(quota=1), request=claim_request(1))
    clear_caches()
    cache.clear()
    assert gate.whole_sold_out_seen(slug=SLUG) is None
    served.lane.cap = 0
    served.lane.RECHECK_WAIT_UNSEEN = 1.0   # the look loads the campaign first: more than 20 ms on a slow box

    # when: ten claims at once, then ten more
    first = call_many(served.lane, [claim_body(n) for n in range(2, 12)])
    then = call_many(served.lane, [claim_body(n) for n in range(12, 22)])

    # then: each is told "sold out for today" (before: all twenty "busy, come back"); one look at the record, which
    # set the flag the next ones were answered from
    assert [code(a) for a in first + then] == ["sold_out"] * 20
    assert served.lane.stats["sold out:rechecked"] == 1
    assert served.lane.stats["busy"] == 0
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_at_an_opening_a_lane_that_cannot_hold_the_crowd_looks_at_the_record_once_a_second(served, monkeypatch):
    # given: units left; a lane that holds no claim (a crowd past its cap); the quiet after a look shortened
    monkeypatch.setattr(gate, "UNSOLD_QUIET", 0.3)
    build_hangzhou(quota=5)
    served.lane.cap = 0

    # when: two crowds within the quiet after a look, and one after it
    answers = call_many(served.lane, [claim_body(n) for n in range(1, 11)])
    answers += call_many(served.lane, [claim_body(n) for n in range(11, 16)])
    time.sleep(0.35)
    answers += call_many(served.lane, [claim_body(n) for n in range(16, 21)])

    # then: "busy, come back" (units are left); the record asked once per quiet, not once a refusal
    assert [code(a) for a in answers] == ["busy"] * 20
    assert served.lane.stats["sold out:rechecked"] == 2
    assert Claim.objects.count() == 0


def _sold_out_and_kept(served, monkeypatch) -> tuple[dt.date, float]:
    """One unit, taken; the second claim found none (the flag set, for 1 s); the third had Django keep its "sold
    out" answer, which the lane replays until the flag's end. Returns the day and when the flag ends."""
    monkeypatch.setattr(gate, "LOCAL_TTL", 1.0)
    build_hangzhou(quota=1)
    assert call(served.lane, claim_body(1))[0] == 201
    assert code(call(served.lane, claim_body(2))) == "sold_out"
    assert code(call(served.lane, claim_body(3))) == "sold_out"
    day = Quota.objects.get().day
    until = gate.sold_out_until(slug=SLUG, day=day, scope_key=gate.WHOLE)
    assert until is not None
    return day, until


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("record", ["database", "redis"])
def test_a_crowd_told_sold_out_from_the_kept_answer_keeps_the_flag_from_lapsing(served, monkeypatch, request, record):
    # given: the kept "sold out" answer within REFRESH_AHEAD of its end (the end of this process's flag); the units
    # left counted in the quota rows, or in Redis
    if record == "redis":
        request.getfixturevalue("redis_store")
    day, until = _sold_out_and_kept(served, monkeypatch)
    _sleep_until(until - served.lane.REFRESH_AHEAD + 0.1)

    # when: the crowd goes on asking; the kept answer is replayed
    replayed = [call(served.lane, claim_body(n)) for n in (4, 5)]

    # then: the record was asked once, and the flag set again before it lapsed
    assert [code(a) for a in replayed] == ["sold_out"] * 2
    refreshed = gate.sold_out_until(slug=SLUG, day=day, scope_key=gate.WHOLE)
    assert refreshed is not None and refreshed > until
    assert served.lane.stats["sold out:refreshed"] == 1

    # and when: past the old flag's end, a crowd the lane cannot hold (as one back at its floor), the shared copy
    # of the flag gone
    _sleep_until(until + 0.05)
    cache.clear()
    served.lane.cap = 0
    answers = call_many(served.lane, [claim_body(n) for n in range(6, 16)])

    # then: each is told "sold out for today" from the flag at once; no claim had to reach the writer, and the
    # record was not asked again (before: the flag lapsed, and the refusals waited for a look at the record, or
    # were told "busy, come back" by a process that had not seen the sell-out)
    assert [code(a) for a in answers] == ["sold_out"] * 10
    assert gate.sold_out_until(slug=SLUG, day=day, scope_key=gate.WHOLE) is not None
    assert served.lane.stats["sold out:rechecked"] == 0
    assert served.lane.stats["busy"] == 0
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_refresh_that_finds_units_back_lets_the_flag_lapse_on_time(served, monkeypatch):
    # given: the kept "sold out" answer near its end, and one unit back on the record (an operator's top-up made
    # elsewhere, which this process has not heard of)
    day, until = _sold_out_and_kept(served, monkeypatch)
    Quota.objects.update(units=2)
    _sleep_until(until - served.lane.REFRESH_AHEAD + 0.1)

    # when: the kept answer is replayed (it still holds), then the flag's end passes
    assert code(call(served.lane, claim_body(4))) == "sold_out"
    _sleep_until(until + 0.05)
    cache.clear()

    # then: the record was asked; the flag was not set again, the process forgot the sell-out, and the next claim
    # takes the unit
    assert gate.sold_out_until(slug=SLUG, day=day, scope_key=gate.WHOLE) is None
    assert gate.whole_sold_out_seen(slug=SLUG) is None
    assert served.lane.stats["sold out:refreshed"] == 1
    assert call(served.lane, claim_body(5))[0] == 201


@pytest.mark.django_db(transaction=True)
def test_a_full_lane_reads_the_open_day_again_after_a_second(served):
    # given: one unit, taken, the campaign flagged sold out for today, and a full lane that has told a refused
    # claim so (it keeps the campaign's open day for OPEN_DAY_SECONDS); the kept "sold out" answer, which the lane
    # replays before it looks at a claim, cleared before each claim
    from django.utils import timezone

    from allot.campaigns.selectors import local_now
    from allot.core import admission
    from allot.firstcome import selectors

    build_hangzhou(quota=1)
    assert call(served.lane, claim_body(1))[0] == 201
    assert call(served.lane, claim_body(2))[0] == 409
    served.lane.cap = 0
    served.lane.OPEN_DAY_SECONDS = 0.3
    admission.replies_clear()
    assert code(call(served.lane, claim_body(3))) == "sold_out"

    # when: the campaign's maintenance hours begin (the same campaign object in the process's cache, as when the
    # clock passes its start), and claims come within the kept time and after it
    campaign = selectors.claim_campaign_cached(slug=SLUG).campaign
    local = local_now(campaign, timezone.now())
    campaign.maintenance_start = (local - dt.timedelta(minutes=1)).time()
    campaign.maintenance_end = (local + dt.timedelta(hours=1)).time()
    admission.replies_clear()
    call(served.lane, claim_body(4))
    kept = served.lane.stats["sold out:refused"]
    time.sleep(0.35)
    admission.replies_clear()
    read_again = call(served.lane, claim_body(5))

    # then: within the kept time the lane still went by the open day it kept (its "sold out" answer is Django's,
    # which checks the claim itself); after it, the campaign is not open, so a claim the full lane cannot hold goes
    # the busy way, not "sold out", and the busy answer Django builds for it says what holds: maintenance
    assert kept == 2
    assert read_again[0] == 503 and code(read_again) == "maintenance"
    assert served.lane.stats["sold out:refused"] == 2 and served.lane.stats["busy"] == 1


@pytest.mark.django_db(transaction=True)
def test_everything_but_a_claim_goes_to_django_and_gets_its_answer(served, plain):
    build_hangzhou(quota=4)
    path = URL + "/remaining"

    through_lane = call(served.lane, method="GET", path=path)
    alone = call(plain, method="GET", path=path)

    assert through_lane[0] == alone[0] == 200
    assert through_lane[1] == alone[1]
    assert json.loads(through_lane[2]) == json.loads(alone[2])
    assert served.django_calls == 1


@pytest.mark.django_db(transaction=True)
def test_with_redis_the_lane_counts_takes_and_writes_a_batch_in_one_script_call(served, redis_store):
    # given: the headers learned, the day loaded
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    scripts = int(redis_store.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))

    # when: one claim
    answer = call(served.lane, claim_body(2))

    # then: proof, counters and unit in one script call
    assert answer[0] == 201
    assert int(redis_store.info("commandstats")["cmdstat_evalsha"]["calls"]) - scripts == 1
    assert Claim.objects.count() == 2 == Quota.objects.get().taken


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_the_lane_refuses_with_503_and_takes_nothing(served, settings):
    # given: the headers learned with Redis up, then Redis gone (nothing listens at REDIS_DOWN_URL)
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    redis_gone(settings)

    # when
    answers = [call(served.lane, claim_body(n)) for n in (2, 3)]

    # then: 503 (the abuse controls' store is Redis: it answers for them), nothing written
    assert [(a[0], code(a)) for a in answers] == [(503, "rate_limit_unavailable")] * 2
    assert "retry-after" not in answers[0][1] or int(answers[0][1]["retry-after"]) > 0
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_with_redis_a_claim_the_plan_refuses_is_counted_and_spends_its_proof(served, redis_store):
    # given: the headers learned
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    proof = solved("claim")

    # when: an address outside the campaign's city (the lane checks it on the loop, then counts it in a thread)
    refused = call(served.lane, claim_body(2, district="350203", altcha=proof))
    replayed = call(served.lane, claim_body(3, altcha=proof))

    # then: its own error; its attempt counted; its proof spent
    assert refused[0] == 400 and "district" in {e["field"] for e in json.loads(refused[2])["errors"]}
    assert len(redis_store.keys("*:claim:id:*")) == 2
    assert (replayed[0], code(replayed)) == (400, "altcha_replayed")
    assert served.lane.stats["prepared in a thread"] >= 1
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_needs_the_database_first_is_prepared_in_a_thread(served):
    # given: the headers learned on one campaign; a second campaign whose day has no quota row yet (the claim
    # opens it: a write the event loop may not do)
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    build_hangzhou(quota=10, slug="second")
    before = served.lane.stats["prepared in a thread"]

    # when
    answer = call(served.lane, claim_body(2), path="/api/v1/campaigns/second/claims")

    # then: accepted, prepared in a thread (the ORM refuses to run on the loop), the next one on the loop
    assert answer[0] == 201
    assert served.lane.stats["prepared in a thread"] == before + 1
    assert call(served.lane, claim_body(3), path="/api/v1/campaigns/second/claims")[0] == 201
    assert served.lane.stats["prepared in a thread"] == before + 1
    assert Quota.objects.get(campaign__slug="second").taken == 2


@pytest.mark.django_db(transaction=True)
@override_settings(ALLOT_CLAIM_GROUP_COMMIT=False)
def test_without_group_commit_the_lane_writes_each_claim_alone_in_a_thread(served):
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201

    answers = call_many(served.lane, [claim_body(n) for n in (2, 3, 4)])

    assert [a[0] for a in answers] == [201] * 3
    assert services._claim_writer.jobs == 0
    assert Claim.objects.count() == 4 == Quota.objects.get().taken


@pytest.mark.django_db(transaction=True)
def test_a_refusal_worded_in_the_writer_thread_is_in_the_resident_s_language(served):
    # given: one unit; the lane learns the headers in both languages, the English claim takes the unit
    build_hangzhou(quota=2)
    assert call(served.lane, claim_body(1), language="zh-hans")[0] == 201
    assert call(served.lane, claim_body(2), language="en")[0] == 201

    # when: the next claims reach the writer, which finds no unit left and words the refusal (with the next
    # opening's time in it)
    gate.flags_clear()
    english = call(served.lane, claim_body(3), language="en")

    # then
    assert (english[0], code(english)) == (409, "sold_out")
    assert "units are all taken" in json.loads(english[2])["errors"][0]["message"]


def test_a_refusal_s_question_answers_as_the_deferred_gate_does_and_never_reads_the_shared_cache(monkeypatch):
    # given: the shared cache counted; the whole campaign flagged sold out in the shared copy only
    gate.flags_clear()
    reads: list[str] = []
    real_get = cache.get
    monkeypatch.setattr(cache, "get", lambda key, *a, **kw: reads.append(key) or real_get(key, *a, **kw))
    day = dt.date(2026, 12, 2)
    key = gate._key("c", day, gate.WHOLE)
    cache.set(key, 1)

    # when: the refusal's question (on the loop), twice, then the read it deferred (in a thread, in production)
    first = gate.whole_sold_out_here(slug="c", day=day)
    again = gate.whole_sold_out_here(slug="c", day=day)   # within NEGATIVE_TTL: no second read falls due
    assert reads == [] and gate.deferred_reads_pending()
    gate.deferred_reads_run()

    # then: the local answer at once, as ``sold_out_for`` within ``shared_reads_deferred``; the deferred read set
    # the flag and the sell-out seen; the next question is answered from it
    assert (first, again) == (False, False)
    assert reads == [key]
    assert gate.whole_sold_out_here(slug="c", day=day) is True
    with gate.shared_reads_deferred():
        assert gate.sold_out_for(slug="c", day=day, hint=None) == (True, True)
    assert gate.whole_sold_out_seen(slug="c") == day
    gate.flags_clear()
    cache.clear()


def test_within_deferred_reads_the_gate_never_waits_for_the_shared_cache(monkeypatch):
    # given: the shared cache counted
    gate.flags_clear()
    reads: list[str] = []
    real_get = cache.get
    monkeypatch.setattr(cache, "get", lambda key, *a, **kw: reads.append(key) or real_get(key, *a, **kw))
    day = dt.date(2026, 12, 2)
    cache.set(gate._key("c", day, "city"), 1)

    # when: the lane's question, then the reads it deferred (in a thread of the lane's, in production)
    with gate.shared_reads_deferred():
        first = gate.is_sold_out(slug="c", day=day, scope_key="city")
    assert reads == [] and gate.deferred_reads_pending()
    gate.deferred_reads_run()

    # then: the loop got the local answer at once; the deferred read set the flag for the next question
    assert first is False
    assert reads == [gate._key("c", day, "city")]
    assert gate.is_sold_out(slug="c", day=day, scope_key="city") is True
    gate.flags_clear()
    cache.clear()


@pytest.mark.django_db(transaction=True)
def test_the_writer_wakes_a_batch_with_one_call_into_the_event_loop(served, monkeypatch):
    # given: the lane's waker counted
    from allot.api.v1 import claim_lane

    build_hangzhou(quota=30)
    assert call(served.lane, claim_body(1))[0] == 201
    wakes: list[int] = []
    real = claim_lane._Waker.wake
    monkeypatch.setattr(claim_lane._Waker, "wake", lambda self, jobs: wakes.append(len(jobs)) or real(self, jobs))

    # when: ten claims at once, written while the writer is held, so that they form two batches
    batches = services._claim_writer.batches
    answers = _held_writer_claims(served, range(2, 12))

    # then: every claim accepted; one wake per batch, for all of its claims
    w = services._claim_writer
    assert [a[0] for a in answers] == [201] * 10
    assert w.batches - batches == 2
    assert sum(wakes) == 10 and len(wakes) == 2, wakes


@pytest.mark.django_db(transaction=True)
def test_claim_create_still_works_beside_the_lane(served):
    # the desk's and the demo's path (no proof, no limits) through the same writer
    campaign = build_hangzhou(quota=2)
    assert call(served.lane, claim_body(1))[0] == 201
    claim = claim_create(campaign=campaign, request=claim_request(2), list_ids=())
    assert claim.pk and Claim.objects.count() == 2


def test_the_lane_is_what_config_asgi_serves():
    from allot.api.v1.claim_lane import ClaimLane
    from config import asgi, wsgi

    assert isinstance(asgi.application, ClaimLane)
    assert asgi.application.fast is wsgi.fast_lane


@pytest.mark.django_db(transaction=True)
def test_the_event_loop_never_reads_the_shared_sold_out_flags_itself(served, monkeypatch):
    # given: reads of the shared cache noted with the thread that made them (the loop runs in this thread; each
    # thread has its own cache object, so the class is patched)
    build_hangzhou(quota=10)
    loop_thread = threading.current_thread()
    readers: list[bool] = []
    backend = type(cache._connections[cache._alias])   # the configured backend's class
    real_get = backend.get
    monkeypatch.setattr(backend, "get", lambda self, key, *a, **kw: readers.append(
        threading.current_thread() is loop_thread) or real_get(self, key, *a, **kw))

    # when: claims through the lane, with the flags' local answers expired in between
    for n in range(1, 4):
        gate.flags_clear()
        assert call(served.lane, claim_body(n))[0] == 201
    time.sleep(0.2)   # the deferred reads run in the lane's threads, not awaited

    # then: the shared flags were read, never by the loop
    assert readers and not any(readers), readers


@pytest.mark.django_db
def test_the_window_kept_for_an_instant_follows_a_campaign_changed_in_place():
    from django.utils import timezone

    from allot.campaigns.models import Campaign
    from allot.firstcome.selectors import window

    campaign = build_hangzhou(quota=1)
    now = timezone.now()
    assert window(campaign, now).state == "open"
    assert window(campaign, now) is window(campaign, now)          # asked again for the same instant: kept
    campaign.status = Campaign.Status.ENDED
    assert window(campaign, now).state == "closed"                  # the campaign changed: computed afresh


@pytest.mark.django_db(transaction=True)
def test_an_empty_answer_through_the_bridge_ends_with_its_headers_and_one_last_body(served):
    # a redirect has no body: the server gets its headers and the final (empty) body message, never an empty chunk
    # that says more is coming (granian had ended the response and logged a transport error for it)
    import asyncio

    messages: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/staff/", "raw_path": b"/staff/", "query_string": b"", "root_path": "",
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "headers": [(b"host", b"testserver")]}
    asyncio.run(served.lane(scope, receive, send))

    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    assert messages[0]["status"] == 302 and not messages[1].get("more_body")


@pytest.mark.django_db(transaction=True)
def test_at_the_opening_one_claim_fills_the_cold_caches_and_the_others_wait_for_it(served):
    # given: the headers learned on one campaign; another whose day has no quota row yet and whose campaign the
    # process has not cached
    build_hangzhou(quota=30)
    assert call(served.lane, claim_body(1))[0] == 201
    build_hangzhou(quota=30, slug="second")
    before = served.lane.stats["prepared in a thread"]

    # when: twelve claims on it at once
    answers = call_many(served.lane, [claim_body(n) for n in range(2, 14)], path="/api/v1/campaigns/second/claims")

    # then: all accepted; one was prepared in a thread (it opened the day's quota row), the others on the loop
    assert [a[0] for a in answers] == [201] * 12
    assert served.lane.stats["prepared in a thread"] == before + 1
    assert Quota.objects.get(campaign__slug="second").taken == 12


@pytest.mark.django_db(transaction=True)
def test_a_campaign_about_to_expire_in_the_cache_is_reloaded_in_the_background(served, monkeypatch):
    # given: the lane has the campaign cached; it is renamed in the database; a reload held until we let it go
    from allot.campaigns.models import Campaign
    from allot.firstcome import selectors

    campaign = build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    assert call(served.lane, claim_body(2))[0] == 201
    Campaign.objects.filter(pk=campaign.pk).update(name="renamed")
    release, reloads = threading.Event(), []
    reload = selectors.claim_campaign_refresh

    def held_reload(*, slug: str) -> None:
        release.wait(10)
        reloads.append(slug)
        reload(slug=slug)

    monkeypatch.setattr(selectors, "claim_campaign_refresh", held_reload)

    async def claim(n: int) -> tuple[int, int, object]:
        answer = await request(served.lane, claim_body(n))
        reloaded_before = len(reloads)   # the answer came while the reload (if any) was still held
        release.set()
        await asyncio.gather(*list(served.lane._tasks))
        return answer[0], reloaded_before, selectors._campaigns[SLUG]

    # when: a claim while the entry is fresh
    before = selectors._campaigns[SLUG]
    status, _n, after = asyncio.run(_closing(served.lane, claim(3)))
    # then: nothing reloaded
    assert status == 201 and after is before and reloads == []

    # when: a claim a second before the entry expires
    release.clear()
    selectors._campaigns[SLUG] = (time.monotonic() + 1.0, before[1])
    status, reloaded_before, after = asyncio.run(_closing(served.lane, claim(4)))

    # then: answered without waiting for the reload; the entry then reloaded, good for another CAMPAIGN_TTL
    assert status == 201 and reloaded_before == 0
    assert reloads == [SLUG] and after[1].campaign.name == "renamed"
    assert after[0] > time.monotonic() + selectors.CAMPAIGN_TTL - 1


@pytest.mark.django_db(transaction=True)
def test_a_gazetteer_about_to_expire_is_reloaded_in_the_background_while_claims_go_on(served, monkeypatch):
    # given: the lane's claims have the city's places cached; a street is renamed; a reload held until let go
    from allot.api.v1 import claim_lane
    from allot.delivery import addresses
    from allot.places.models import Street

    campaign = build_hangzhou(quota=10)
    assert [call(served.lane, claim_body(n))[0] for n in (1, 2)] == [201, 201]
    city = campaign.city_id
    street = Street.objects.filter(district__parent_id=city).first()
    Street.objects.filter(pk=street.pk).update(name="新名街道")
    release, reloads = threading.Event(), []

    def held_reload(city_code: str) -> addresses.Gazetteer:
        release.wait(10)
        reloads.append(city_code)
        return addresses.gazetteer_refresh(city_code)

    monkeypatch.setattr(claim_lane, "gazetteer_refresh", held_reload)

    async def claim(n: int) -> tuple[int, int]:
        answer = await request(served.lane, claim_body(n))
        reloaded_before = len(reloads)   # the answer came while the reload (if any) was still held
        release.set()
        await asyncio.gather(*list(served.lane._tasks))
        return answer[0], reloaded_before

    # when: a claim while the gazetteer is fresh
    before = addresses._gaz[city]
    assert asyncio.run(_closing(served.lane, claim(3))) == (201, 0)
    # then: nothing reloaded
    assert reloads == [] and addresses._gaz[city] is before

    # when: a claim five seconds before it expires
    release.clear()
    addresses._gaz[city] = (time.monotonic() + 5.0, before[1])
    status, reloaded_before = asyncio.run(_closing(served.lane, claim(4)))

    # then: answered without waiting for the reload (and not in a thread); then reloaded, good for another minute
    assert status == 201 and reloaded_before == 0
    assert served.lane.stats["prepared in a thread"] == 0
    assert reloads == [city] and addresses._gaz[city][1].streets[street.code][1] == "新名街道"
    assert addresses._gaz[city][0] > time.monotonic() + addresses._GAZ_TTL - 5


# --- the units left: a copy of Django's answer for a second -------------------------------------------------

REMAINING_PATHS = (f"/api/v1/campaigns/{SLUG}/claims/remaining", f"/c/{SLUG}/claim/remaining.json")


@pytest.mark.parametrize("path", REMAINING_PATHS)
@pytest.mark.django_db(transaction=True)
def test_the_units_left_come_from_a_copy_of_djangos_answer_until_it_expires(served, path):
    # given: a day with one claim taken, the copies kept for 0.3 s
    build_hangzhou(quota=30)
    assert call(served.lane, claim_body(1))[0] == 201
    served.lane.cache_seconds = 0.3
    calls = served.django_calls

    # when: the units left asked twice, a claim taken between the two
    first = call(served.lane, None, path=path, method="GET")
    assert call(served.lane, claim_body(2))[0] == 201
    second = call(served.lane, None, path=path, method="GET")

    # then: Django answered the first, marked public for 2 s; the second is its copy, with an Age (the claim between
    # them had Django build the busy answer the lane keeps ahead of need: one call more)
    assert first[0] == 200 and json.loads(first[2])["left"] == 29
    assert first[1]["cache-control"] == "public, max-age=2" and "age" not in first[1]
    assert second[0] == 200 and second[2] == first[2] and second[1]["age"] == "0"
    assert {k: v for k, v in second[1].items() if k != "age"} == first[1]
    assert served.django_calls == calls + 1 + 1

    # and once the copy has expired, Django answers again, with the claim counted
    time.sleep(0.35)
    third = call(served.lane, None, path=path, method="GET")
    assert json.loads(third[2])["left"] == 28 and "age" not in third[1]
    assert served.django_calls == calls + 2 + 1


@pytest.mark.django_db(transaction=True)
def test_one_request_asks_django_for_the_units_left_while_the_others_wait_for_its_copy(served):
    # given: no copy yet
    build_hangzhou(quota=30)
    assert call(served.lane, claim_body(1))[0] == 201
    calls = served.django_calls

    # when: forty residents' pages ask at once
    answers = call_many(served.lane, [None] * 40, path=REMAINING_PATHS[1], method="GET")

    # then: Django answered once; everyone got its figures
    assert served.django_calls == calls + 1
    assert {a[0] for a in answers} == {200} and {a[2] for a in answers} == {answers[0][2]}
    assert json.loads(answers[0][2])["left"] == 29


@pytest.mark.django_db(transaction=True)
def test_the_units_left_are_kept_per_language_and_an_error_is_not_kept(served):
    # given: a campaign with a claim
    build_hangzhou(quota=30)
    assert call(served.lane, claim_body(1))[0] == 201
    calls = served.django_calls
    path = REMAINING_PATHS[0]

    # when: asked in Chinese and in English, twice each; and twice for a campaign that does not exist
    zh = [call(served.lane, None, path=path, method="GET", language="zh-hans") for _ in range(2)]
    en = [call(served.lane, None, path=path, method="GET", language="en") for _ in range(2)]
    missing = [call(served.lane, None, path="/api/v1/campaigns/nowhere/claims/remaining", method="GET")
               for _ in range(2)]

    # then: one Django answer per language, each kept with its own Content-Language; every 404 from Django
    assert [a[1]["content-language"] for a in zh + en] == ["zh-hans"] * 2 + ["en"] * 2
    assert "age" in zh[1][1] and "age" in en[1][1]
    assert [a[0] for a in missing] == [404, 404] and not any("age" in a[1] for a in missing)
    assert served.django_calls == calls + 4


@pytest.mark.parametrize(("status", "headers", "kept"), [
    (200, [(b"cache-control", b"public, max-age=2")], 1.0),
    (200, [(b"cache-control", b"public, max-age=0")], 0.0),
    (200, [(b"cache-control", b"max-age=2")], 0.0),
    (200, [(b"cache-control", b"public, max-age=2"), (b"set-cookie", b"a=b")], 0.0),
    (200, [(b"cache-control", b"no-store")], 0.0),
    (200, [], 0.0),
    (404, [(b"cache-control", b"public, max-age=2")], 0.0),
])
def test_only_a_public_200_that_sets_no_cookie_is_kept(status, headers, kept):
    from allot.api.v1.claim_lane import _keepable

    assert _keepable(status, headers, 1.0) == kept


@pytest.mark.django_db(transaction=True)
def test_busy_answers_each_say_the_wait_they_were_given_in_header_and_body(served, settings):
    # given: the headers learned, no room left in the lane, waits drawn from 2-6 s
    settings.ALLOT_ADMISSION_RETRY_AFTER = (2, 6)
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    served.lane.cap = 0

    # when: many claims (the lane renders each busy answer once per wait, then reuses it)
    answers = [call(served.lane, claim_body(n)) for n in range(2, 42)]

    # then: every answer's body gives the seconds its Retry-After gives, and the waits differ
    waits = set()
    for status, headers, body in answers:
        assert status == 503
        wait = int(headers["retry-after"])
        assert f"请 {wait} 秒后再试" in json.loads(body)["errors"][0]["message"]
        assert headers["content-length"] == str(len(body))
        waits.add(wait)
    assert len(waits) > 1


@pytest.mark.django_db(transaction=True)
def test_the_lane_takes_its_base_from_accepted_claims_only(served):
    # given: the headers learned, and one resident's claim accepted; then the lane idle past IDLE (it starts again,
    # with no base)
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    drain = served.lane._drain
    time.sleep(drain.IDLE + 0.05)

    # when: the same resident claims twice more, the second past the drain's interval (refused: one claim a person)
    refused = [call(served.lane, claim_body(1))]
    time.sleep(drain.INTERVAL + 0.01)
    refused.append(call(served.lane, claim_body(1)))

    # then: the refusals closed an interval and set no base
    assert [a[0] for a in refused] == [409, 409]
    assert drain.base == 0.0

    # when: another resident is accepted past the next interval
    time.sleep(drain.INTERVAL + 0.01)
    t0 = time.monotonic()
    accepted = call(served.lane, claim_body(2))
    took = time.monotonic() - t0

    # then: the base is that claim's time in the lane
    assert accepted[0] == 201
    assert 0.0 < drain.base <= took


@pytest.mark.django_db(transaction=True)
def test_a_crowd_meeting_a_due_flag_read_queues_one_read_not_one_each(served, monkeypatch):
    # given: the lane's headers learned and its cap 0 (every claim refused, each asking the sold-out flags); the
    # shared copy slow to answer (Redis under load: a read that blocks until released), and the flags' local
    # answers expired, so a read of the shared copy is due
    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    served.lane.cap = 0
    release = threading.Event()
    runs: list[int] = []
    real_run = gate.deferred_reads_run

    def slow_run() -> None:
        runs.append(1)
        release.wait(5)
        real_run()

    monkeypatch.setattr(gate, "deferred_reads_run", slow_run)
    gate.flags_clear()

    # when: forty refused claims at once, while the first read is still waiting
    answers = call_many(served.lane, [claim_body(n) for n in range(2, 42)])
    during = len(runs)
    release.set()
    time.sleep(0.2)

    # then: all were answered busy, and one read of the shared copy ran for all of them (it ran one per refusal:
    # forty jobs queued for the lane's four threads, each a turn at the interpreter the loop waited for)
    assert [a[0] for a in answers] == [503] * 40
    assert during == 1
    assert len(runs) == 1


@pytest.mark.django_db(transaction=True)
def test_the_pages_polls_before_the_opening_keep_the_gazetteer_warm_for_the_first_claims(served):
    # given: a delivery campaign, the lane's headers learned; then the process's gazetteer (the places an address
    # is checked against) dropped, as after a quiet spell longer than it is kept
    from allot.delivery.addresses import gazetteer_clear

    build_hangzhou(quota=10)
    assert call(served.lane, claim_body(1))[0] == 201
    gazetteer_clear()
    before = served.lane.stats["prepared in a thread"]

    # when: the residents' pages waiting for the opening ask for the units left, then a claim comes
    polled = call(served.lane, path=f"/c/{SLUG}/claim/remaining.json", method="GET")
    claimed = call(served.lane, claim_body(2))

    # then: the claim was checked on the loop: no claim had to fill the gazetteer in a thread (at a 10x opening,
    # that thread's turns at the interpreter held up the loop for tens of milliseconds)
    assert polled[0] == 200 and claimed[0] == 201
    assert served.lane.stats["prepared in a thread"] == before
