"""Group commit of first-come claims (allot/firstcome/writer.py): claims that arrive together are decided and
written in one transaction, each resident told only after that transaction committed; a batch that fails is
rolled back and its claims are written one by one. These run the writer thread for real on SQLite (a
transactional test database, threads with their own connections); the PostgreSQL race is in
tests/concurrency/test_firstcome_race.py."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from allot.core.errors import DomainError
from allot.core.models import AuditLog
from allot.delivery.models import Parcel
from allot.firstcome import services, writer
from allot.firstcome.models import Claim, Quota
from allot.firstcome.selectors import window
from tests.firstcome.hangzhou import build_hangzhou, claim_request, clear_caches


@pytest.fixture(autouse=True)
def _fresh():
    clear_caches()
    services._claim_writer.batches = services._claim_writer.jobs = 0
    yield
    clear_caches()


def _claim_in_threads(campaign, people: list[int], *, queue_first: bool = False) -> list[str]:
    """Each person claims from a thread of their own, all at once. ``queue_first``: the writer is held (by the
    process's SQLite writer lock, which it takes for every batch) until every claim has reached its queue, so that
    the claims meet in the queue however the threads happen to be scheduled."""
    barrier = threading.Barrier(len(people))
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        try:
            barrier.wait()
            try:
                claim = services.claim_create(campaign=campaign, request=claim_request(n), list_ids=())
                result = f"ok:{claim.number}"
            except DomainError as exc:
                result = exc.code
            except Exception as exc:  # noqa: BLE001 - any other failure is an outcome the test must see
                result = f"error:{type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(result)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(n,)) for n in people]
    if queue_first:
        with services._sqlite_writer:
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            # the first batch is taken out of the queue (and counted) before the writer waits for the lock
            w = services._claim_writer
            while w.jobs + len(w._queue) < len(people) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert w.jobs + len(w._queue) == len(people), "not every claim reached the writer's queue"
    else:
        for t in threads:
            t.start()
    for t in threads:
        t.join(60)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_are_written_in_batches_and_give_exactly_the_quota():
    # given: 40 residents at once for 25 units (the day's quota row opened beforehand, as the worker's
    # days_prepare does before the opening)
    campaign = build_hangzhou(quota=25)
    services.quota_get_or_create(campaign=campaign, day=window(campaign).day, scope_key="city")

    # when
    outcomes = _claim_in_threads(campaign, list(range(1, 41)), queue_first=True)

    # then: exactly the quota, each accepted claim complete (claim, parcel, audit row), the counter right
    accepted = [o for o in outcomes if o.startswith("ok:")]
    assert len(accepted) == 25
    assert sorted(set(outcomes) - set(accepted)) == ["sold_out"]
    assert Claim.objects.count() == 25
    assert set(Claim.objects.values_list("number", flat=True)) == {o[3:] for o in accepted}
    assert Parcel.objects.count() == 25
    assert AuditLog.objects.filter(action="allot.firstcome.claim_accepted").count() == 25
    assert Quota.objects.get(campaign=campaign).taken == 25
    # and they were grouped: the first batch (taken before the writer met the held lock), then the rest in one
    w = services._claim_writer
    assert w.jobs == 40
    assert w.batches == 2


@pytest.mark.django_db(transaction=True)
def test_the_same_person_twice_in_one_moment_gets_one_claim():
    # given
    campaign = build_hangzhou(quota=10)
    services.quota_get_or_create(campaign=campaign, day=window(campaign).day, scope_key="city")

    # when: one person from 12 threads at once (a batch never holds one person twice)
    outcomes = _claim_in_threads(campaign, [7] * 12)

    # then
    assert sum(o.startswith("ok:") for o in outcomes) == 1
    assert sorted(set(o for o in outcomes if not o.startswith("ok:"))) == ["already_claimed"]
    assert Claim.objects.count() == 1
    assert Quota.objects.get(campaign=campaign).taken == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_batch_is_rolled_back_and_its_claims_written_one_by_one(monkeypatch, caplog):
    # given: a claim whose number the next batch will draw again (a collision the unique index refuses)
    campaign = build_hangzhou(quota=10)
    first = services.claim_create(campaign=campaign, request=claim_request(1), list_ids=())
    numbers = iter([first.number])
    real = services.random_code

    def collide_once(length: int) -> str:
        return next(numbers, None) or real(length)

    monkeypatch.setattr(services, "random_code", collide_once)

    # when
    second = services.claim_create(campaign=campaign, request=claim_request(2), list_ids=())

    # then: the batch failed on the claim number, the claim was written alone with a fresh number
    assert "rolled back" in caplog.text
    assert second.number != first.number
    assert Claim.objects.count() == 2
    assert Quota.objects.get(campaign=campaign).taken == 2
    assert AuditLog.objects.filter(action="allot.firstcome.claim_accepted").count() == 2


@pytest.mark.django_db(transaction=True)
def test_without_group_commit_each_claim_is_written_in_its_own_transaction(settings):
    # given
    settings.ALLOT_CLAIM_GROUP_COMMIT = False
    campaign = build_hangzhou(quota=5)
    services.quota_get_or_create(campaign=campaign, day=window(campaign).day, scope_key="city")

    # when: one after another (the test database is SQLite in memory with a shared cache, whose table locks
    # refuse, rather than wait for, a writer that meets a reader in another thread; the per-claim path's races
    # are the PostgreSQL race tests' business)
    outcomes = []
    for n in range(1, 9):
        try:
            outcomes.append(services.claim_create(campaign=campaign, request=claim_request(n), list_ids=()).number)
        except DomainError as exc:
            outcomes.append(exc.code)

    # then
    assert outcomes[5:] == ["sold_out"] * 3 and len(set(outcomes[:5])) == 5
    assert services._claim_writer.jobs == 0
    assert Quota.objects.get(campaign=campaign).taken == 5


@pytest.mark.django_db
def test_inside_a_transaction_the_claim_is_written_inline_by_the_batch_code():
    # given: the caller holds a transaction (here the test's), which the writer thread could not see into
    campaign = build_hangzhou(quota=1)
    w = window(campaign)

    # when
    claim = services.claim_create(campaign=campaign, request=claim_request(1), list_ids=())
    with pytest.raises(DomainError) as sold:
        services.claim_create(campaign=campaign, request=claim_request(2), list_ids=())

    # then
    assert claim.pk is not None and claim.day == w.day
    assert sold.value.code == "sold_out"
    assert services._claim_writer.jobs == 0     # no thread involved
    assert Parcel.objects.get(claim=claim).number


def test_max_batch_is_bounded():
    assert 1 < writer.MAX_BATCH <= 256
