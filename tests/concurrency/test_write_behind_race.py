"""Many processes' write-behind buffers flushing the same rate-limit keys at once (PostgreSQL): every increment is
counted exactly once and no flush deadlocks, because each flush upserts its keys in sorted order."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection

from allot.verification.buffer import WriteBehind
from allot.verification.models import RateCounter

WORKERS = 8
ROUNDS = 40
KEYS = [f"k{i}" for i in range(12)]
ENDS = 2**31 - 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_flushes_of_the_same_keys_add_up_exactly(settings):
    settings.ALLOT_WRITE_BEHIND_SECONDS = 3600
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        wb = WriteBehind()  # one process's buffer
        try:
            barrier.wait()
            for _ in range(ROUNDS):
                keys = rng.sample(KEYS, 6)   # each round in another order: the flush sorts them
                wb.count([(k, ENDS, 10**9) for k in keys])
                wb.flush()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sum(RateCounter.objects.values_list("count", flat=True)) == WORKERS * ROUNDS * 6
