"""Client CPU of the claim lane's batch script call (20 claims, ~360 arguments) on a real Redis (db 12, emptied):
redis-py's asyncio packer against hiredis's (``loop_writer.HiredisPacked``).

    python bench/redis_pack.py
"""

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
import django

django.setup()
import redis.asyncio as aredis  # noqa: E402
import uvloop  # noqa: E402

from allot.firstcome import store  # noqa: E402
from allot.firstcome.loop_writer import HiredisPacked  # noqa: E402

DAY = dt.date(2026, 12, 3)
takes = [store.Take(campaign_id=1, day=DAY, quota_id=7, person=f"p{n}", once=(f"allot:pow:{n:064d}", 300, "claim"),
                    counters=((f"allot:rl:a{n}", 60, 5), (f"allot:rl:b{n}", 3600, 20), (f"allot:rl:c{n}", 86400, 50)))
         for n in range(20)]
keys, args = store.take_batch_args(takes)
print("arguments", len(keys) + len(args))


async def run(cls: type, n: int) -> float:
    r = aredis.Redis.from_url("redis://127.0.0.1:6379/12", connection_class=cls)
    s = r.register_script(store.CLAIM_BATCH)
    await r.flushdb()
    await s(keys=keys, args=args)
    t = time.process_time()
    for _ in range(n):
        await s(keys=keys, args=args)
    cpu = (time.process_time() - t) / n * 1e6
    await r.flushdb()
    await r.aclose()
    return cpu


for _ in range(3):
    a = uvloop.run(run(aredis.Connection, 3000))
    b = uvloop.run(run(HiredisPacked, 3000))
    print(f"client CPU per batch call of 20 claims: redis-py packer {a:.0f} µs, hiredis {b:.0f} µs")
