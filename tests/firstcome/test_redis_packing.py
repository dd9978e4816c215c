"""The claim lane's writer has hiredis pack its Redis commands (``loop_writer.HiredisPacked``): redis-py's asyncio
connection packs in Python, one argument at a time. The bytes must be redis-py's own, and a real Redis must take
them."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import redis.asyncio as aredis

from allot.firstcome import store
from allot.firstcome.loop_writer import HiredisPacked
from tests.firstcome.hangzhou import REDIS_TEST_URL

DAY = dt.date(2026, 12, 3)
COMMANDS = [
    ("EVALSHA", "a" * 40, 3, "allot:fc:1:2026-12-03:ready", "k2", "键三", 17, "1", "人", b"\x00\xff", -5, 2**62),
    ("SET", "x", 1.25),            # a float: redis-py's packer (it writes repr())
    ("CONFIG GET", "maxmemory"),   # a command name of two words: redis-py's packer splits it
    ("SET", "x", memoryview(b"abc")),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: str(a[0]))
def test_the_bytes_are_redis_py_s_own(args):
    assert b"".join(HiredisPacked().pack_command(*args)) == b"".join(aredis.Connection().pack_command(*args))


def test_what_neither_packs_is_refused_as_redis_py_refuses_it():
    from redis.exceptions import DataError

    with pytest.raises(DataError):
        HiredisPacked().pack_command("SET", "x", True)


def test_the_claim_script_runs_through_it_on_a_real_redis(redis_store):
    # given: a day loaded with two units, as the writer's batch finds it
    ready, people = store.day_keys(1, DAY)
    left = store.left_key(1, DAY, 7)
    redis_store.set(ready, 1)
    redis_store.set(left, 2)
    takes = [store.Take(campaign_id=1, day=DAY, quota_id=7, person=f"p{n}",
                        once=None, counters=()) for n in range(3)]
    keys, args = store.take_batch_args(takes)

    async def run():
        r = aredis.Redis.from_url(REDIS_TEST_URL, connection_class=HiredisPacked)
        try:
            return await r.register_script(store.CLAIM_BATCH)(keys=keys, args=args)
        finally:
            await r.aclose()

    # when
    answers = [int(a) for a in asyncio.run(run())]

    # then: two taken, the third found none; Redis's counters say the same
    assert answers == [store.TAKEN, store.TAKEN, store.SOLD_OUT]
    assert int(redis_store.get(left)) == 0
    assert redis_store.scard(people) == 2
