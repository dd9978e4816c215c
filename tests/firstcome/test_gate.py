"""The sold-out flag (allot/firstcome/gate.py): learned from the shared cache within a quarter of a second, and
asked of the cache by one thread at a time."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.core.cache import cache, caches

from allot.firstcome import gate

DAY = dt.date(2026, 11, 25)


@pytest.fixture(autouse=True)
def _clean():
    gate.flags_clear()
    cache.clear()
    yield
    gate.flags_clear()
    cache.clear()


def test_a_flag_another_process_set_is_learned_once_the_negative_answer_expires():
    # given: this process knows "not sold out"
    assert gate.is_sold_out(slug="c", day=DAY, scope_key="city") is False

    # when: another process marks the area sold out (its mark_sold_out writes the shared cache)
    cache.set(gate._key("c", DAY, "city"), 1, timeout=gate.SHARED_TTL)

    # then: not before the negative answer expires, and right after it
    assert gate.is_sold_out(slug="c", day=DAY, scope_key="city") is False
    time.sleep(gate.NEGATIVE_TTL + 0.05)
    assert gate.is_sold_out(slug="c", day=DAY, scope_key="city") is True


def test_threads_that_meet_an_expired_answer_ask_the_cache_once(monkeypatch):
    # given: a cache that takes 50 ms to answer, and counts (each thread has its own cache object: the class is
    # wrapped)
    reads = []
    backend = type(caches["default"])
    real_get = backend.get

    def slow_get(self, key, *args, **kwargs):
        reads.append(key)
        time.sleep(0.05)
        return real_get(self, key, *args, **kwargs)

    monkeypatch.setattr(backend, "get", slow_get)
    barrier = threading.Barrier(8)
    answers = []

    def ask() -> None:
        barrier.wait()
        answers.append(gate.is_sold_out(slug="c", day=DAY, scope_key="city"))

    # when: 8 threads ask at the same moment, with nothing known locally
    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    # then: one read; every thread answered "not sold out"
    assert len(reads) == 1
    assert answers == [False] * 8


def test_a_local_flag_answers_without_the_cache(monkeypatch):
    gate.mark_sold_out(slug="c", day=DAY, scope_key="city")
    monkeypatch.setattr(type(caches["default"]), "get", lambda *a, **k: pytest.fail("the cache was read"))

    assert gate.is_sold_out(slug="c", day=DAY, scope_key="city") is True


def test_a_process_remembers_the_day_it_learned_the_whole_campaign_sold_out_after_its_flag_lapses(monkeypatch):
    # given: flags that live 0.1 s
    monkeypatch.setattr(gate, "LOCAL_TTL", 0.1)
    other = dt.date(2026, 11, 26)

    # when / then: an area sold out is not the whole campaign; the whole campaign marked here is remembered past its
    # flag's life
    gate.mark_sold_out(slug="c", day=DAY, scope_key="330106")
    assert gate.whole_sold_out_seen(slug="c") is None
    gate.mark_sold_out(slug="c", day=DAY, scope_key="330106", whole_campaign=True)
    time.sleep(0.15)
    cache.clear()   # the shared copy lapsed too
    assert gate.is_sold_out(slug="c", day=DAY, scope_key=gate.WHOLE) is False
    assert gate.whole_sold_out_seen(slug="c") == DAY

    # and: forgetting another day changes nothing; units given back (clear_sold_out) forget it
    gate.whole_sold_out_forget(slug="c", day=other)
    assert gate.whole_sold_out_seen(slug="c") == DAY
    gate.clear_sold_out(slug="c", day=DAY, scope_key="330106")
    assert gate.whole_sold_out_seen(slug="c") is None

    # and: learned from the shared copy (another process's writer found the last unit gone), it is remembered too
    cache.set(gate._key("d", other, gate.WHOLE), 1, timeout=gate.SHARED_TTL)
    assert gate.is_sold_out(slug="d", day=other, scope_key=gate.WHOLE) is True
    assert gate.whole_sold_out_seen(slug="d") == other
