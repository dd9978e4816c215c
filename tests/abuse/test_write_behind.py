"""The write-behind buffer that keeps the claim path at one write transaction per claim without Redis
(allot/verification/buffer.py): exact within a process, shared through the database across processes (two
``WriteBehind`` objects here stand for two processes), no key past its limit, replays refused, failures kept."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection

from allot.core.errors import DomainError
from allot.verification.buffer import WriteBehind, write_behind
from allot.verification.models import RateCounter, UsedChallenge
from allot.verification.proof import proof_verify, proofs_presolved
from allot.verification.ratelimit import address_key

ENDS = 2**31 - 1  # a window that ends in 2038


@pytest.fixture(autouse=True)
def _quiet(settings):
    settings.REDIS_URL = ""
    settings.ALLOT_WRITE_BEHIND_SECONDS = 3600  # only the flushes a test asks for, or the eager ones
    write_behind().reset()
    yield
    write_behind().reset()


def test_within_a_process_counts_are_exact_without_writing(db):
    wb = WriteBehind()

    totals = [wb.count([("k", ENDS, 100)])[0] for _ in range(5)]

    assert totals == [1, 2, 3, 4, 5]
    assert not RateCounter.objects.exists()
    assert wb.pending() == (1, 0)


def test_a_flush_writes_the_totals_in_one_go_and_processes_add_up(db):
    a, b = WriteBehind(), WriteBehind()
    for _ in range(3):
        a.count([("k", ENDS, 100), ("j", ENDS, 100)])
    b.count([("k", ENDS, 100)])

    a.flush()
    b.flush()

    assert dict(RateCounter.objects.values_list("key", "count")) == {"k": 4, "j": 3}
    assert b.count([("k", ENDS, 100)]) == [5]  # b learnt a's increments from its flush


def test_two_processes_together_never_pass_a_limit(db):
    # given two processes and a key with a limit of 10, no periodic flush
    a, b = WriteBehind(), WriteBehind()
    limit = 10

    # when they take turns counting 30 attempts
    accepted = 0
    for i in range(30):
        total = (a if i % 2 == 0 else b).count([("ip", ENDS, limit)])[0]
        accepted += total <= limit

    # then exactly the limit was let through: from half the limit on, each decision used the shared total
    assert accepted == limit
    assert RateCounter.objects.get(key="ip").count >= limit


def test_with_no_interval_every_count_is_written_at_once(db, settings):
    settings.ALLOT_WRITE_BEHIND_SECONDS = 0
    wb = WriteBehind()

    wb.count([("k", ENDS, 100)])
    wb.count([("k", ENDS, 100)])

    assert RateCounter.objects.get(key="k").count == 2


def test_a_failed_flush_keeps_the_increments_and_raises(db):
    wb = WriteBehind()
    wb.count([("k", ENDS, 100)])
    wb.count([("k", ENDS, 100)])
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {RateCounter._meta.db_table} RENAME TO ratecounter_gone")

    with pytest.raises(DatabaseError):
        wb.flush()

    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE ratecounter_gone RENAME TO {RateCounter._meta.db_table}")
    assert wb.count([("k", ENDS, 100)]) == [3]
    wb.flush()
    assert RateCounter.objects.get(key="k").count == 3


def test_keys_seen_once_are_forgotten_after_a_flush_and_repeated_ones_kept(db):
    wb = WriteBehind()
    for n in range(1000):
        wb.count([(f"id-{n}", ENDS, 5)])
    for _ in range(3):
        wb.count([("ip", ENDS, 300)])

    wb.flush()

    assert set(wb._counts) == {"ip"}  # memory stays small: a surge brings mostly ID numbers seen once
    assert wb.count([("id-7", ENDS, 5)]) == [1]  # until the next flush tells its total again
    wb.flush()
    assert RateCounter.objects.get(key="id-7").count == 2


def test_windows_that_ended_are_forgotten(db):
    wb = WriteBehind()
    for _ in range(3):
        wb.count([("old", 1, 100)])

    wb.flush()

    assert "old" not in wb._counts


def test_a_challenge_is_redeemed_once_per_process_and_once_everywhere_after_the_flush(db):
    a, b = WriteBehind(), WriteBehind()

    first = a.redeem(digest="d1", purpose="claim", expires_at=ENDS)
    again_here = a.redeem(digest="d1", purpose="claim", expires_at=ENDS)
    a.flush()
    elsewhere = b.redeem(digest="d1", purpose="claim", expires_at=ENDS)
    here_after_flush = a.redeem(digest="d1", purpose="claim", expires_at=ENDS)

    assert (first, again_here, elsewhere, here_after_flush) == (True, False, False, False)
    assert UsedChallenge.objects.filter(digest="d1").count() == 1


def test_the_bench_client_can_make_valid_proofs_cheaply_and_each_works_once(db, settings):
    # a load generator that holds the server's SECRET_KEY
    proofs = proofs_presolved(purpose="claim", count=50, secret_key=settings.SECRET_KEY)

    for p in proofs:
        proof_verify(payload=p, purpose="claim", hot=True)
    with pytest.raises(DomainError) as exc:
        proof_verify(payload=proofs[0], purpose="claim", hot=True)

    assert exc.value.code == "altcha_replayed"
    assert len(set(proofs)) == 50


def test_proofs_redeemed_on_the_hot_path_reach_the_table_on_the_next_flush(db):
    for p in proofs_presolved(purpose="claim", count=3):
        proof_verify(payload=p, purpose="claim", hot=True)
    assert not UsedChallenge.objects.exists()

    write_behind().flush()

    assert UsedChallenge.objects.filter(purpose="claim").count() == 3


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("not an address", "not an address"),
])
def test_a_client_address_is_counted_by_ipv4_address_or_ipv6_network(address, key):
    assert address_key(address) == key
