"""``store.take_batch`` (one script call for a batch of claims) gives each claim what the separate steps give it one
after the other: the proof's replay key set once (``ratelimit._LUA_ONCE``), the rate counters counted, then the
claim script (``store.CLAIM``) — same answers, same keys left behind. Checked against real Redis, on generated
batches: a world for the batch script and a world for the steps, side by side."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allot.firstcome import store
from allot.verification.ratelimit import _LUA, _LUA_ONCE

DAY = dt.date(2026, 12, 2)
PEOPLE = ("p1", "p2", "p3")
QUOTAS = (1, 2)


@pytest.fixture
def r(redis_store):
    return redis_store


take_st = st.fixed_dictionaries({
    "person": st.sampled_from(PEOPLE),
    "quota": st.sampled_from(QUOTAS),
    "once": st.one_of(st.none(), st.sampled_from(("o1", "o2", "o3"))),
    "counters": st.lists(st.tuples(st.sampled_from(("c1", "c2", "c3")), st.integers(0, 2)), max_size=2,
                         unique_by=lambda c: c[0]),
})
world_st = st.fixed_dictionaries({
    "ready": st.booleans(),
    "left": st.fixed_dictionaries({q: st.one_of(st.none(), st.integers(0, 3)) for q in QUOTAS}),
    "people": st.sets(st.sampled_from(PEOPLE), max_size=2),
    "used": st.sets(st.sampled_from(("o1", "o2")), max_size=1),
    "counts": st.fixed_dictionaries({c: st.integers(0, 2) for c in ("c1", "c2")}),
})


def _load(r, campaign: int, prefix: str, world: dict) -> None:
    ready, people = store.day_keys(campaign, DAY)
    if world["ready"]:
        r.set(ready, "1")
    for q, n in world["left"].items():
        if n is not None:
            r.set(store.left_key(campaign, DAY, q), n)
    if world["people"]:
        r.sadd(people, *world["people"])
    for once in world["used"]:
        r.set(prefix + once, "claim")
    for c, n in world["counts"].items():
        if n:
            r.set(prefix + c, n)


def _takes(campaign: int, prefix: str, takes: list[dict]) -> list[store.Take]:
    return [store.Take(campaign_id=campaign, day=DAY, quota_id=t["quota"], person=t["person"],
                       once=(prefix + t["once"], 60, "claim") if t["once"] else None,
                       counters=tuple((prefix + c, 60, limit) for c, limit in t["counters"])) for t in takes]


def _one_by_one(r, takes: list[store.Take]) -> list[int]:
    """The separate steps, one claim after the other."""
    counted, counted_once = r.register_script(_LUA), r.register_script(_LUA_ONCE)
    claim = r.register_script(store.CLAIM)
    answers = []
    for t in takes:
        keys, windows = [k for k, _w, _l in t.counters], [w for _k, w, _l in t.counters]
        if t.once is not None:
            counts = counted_once(keys=[t.once[0], *keys], args=[t.once[1], t.once[2], *windows])
            if counts == [-1]:
                answers.append(store.REPLAYED)
                continue
        else:
            counts = counted(keys=keys, args=windows) if keys else []
        if any(int(c) > limit for c, (_k, _w, limit) in zip(counts, t.counters, strict=True)):
            answers.append(store.LIMITED)
            continue
        ready, people = store.day_keys(t.campaign_id, t.day)
        answers.append(int(claim(keys=[ready, people, store.left_key(t.campaign_id, t.day, t.quota_id)],
                                 args=[t.person])))
    return answers


def _state(r, campaign: int, prefix: str) -> dict:
    ready, people = store.day_keys(campaign, DAY)
    return {"ready": r.exists(ready), "people": sorted(r.smembers(people)),
            "left": {q: r.get(store.left_key(campaign, DAY, q)) for q in QUOTAS},
            "keys": {k.decode().removeprefix(prefix): r.get(k) for k in r.keys(prefix + "*")},
            "ttl": sorted(k.decode().removeprefix(prefix) for k in r.keys(prefix + "*") if r.ttl(k) > 0)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=world_st, takes=st.lists(take_st, min_size=1, max_size=8))
def test_a_batch_answers_and_leaves_what_the_steps_one_by_one_do(r, world, takes):
    r.flushdb()
    _load(r, 1, "A:", world)
    _load(r, 2, "B:", world)

    batch = store.take_batch(_takes(1, "A:", takes))
    steps = _one_by_one(r, _takes(2, "B:", takes))

    assert batch == steps
    assert _state(r, 1, "A:") == _state(r, 2, "B:")


def test_a_batch_is_one_script_call(r):
    r.set(store.day_keys(7, DAY)[0], "1")
    r.set(store.left_key(7, DAY, 1), 2)
    before = int(r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))

    answers = store.take_batch([store.Take(campaign_id=7, day=DAY, quota_id=1, person=p) for p in ("a", "b", "c")])

    assert answers == [store.TAKEN, store.TAKEN, store.SOLD_OUT]
    assert int(r.info("commandstats")["cmdstat_evalsha"]["calls"]) - before == 1


def test_redis_down_is_store_unavailable(settings):
    from tests.firstcome.hangzhou import REDIS_DOWN_URL

    settings.REDIS_URL = REDIS_DOWN_URL
    with pytest.raises(store.StoreUnavailable):
        store.take_batch([store.Take(campaign_id=7, day=DAY, quota_id=1, person="a")])
