"""Group commit of first-come claims on PostgreSQL (allot/firstcome/writer.py, ``_batch_write_pg``): a batch is one
statement that locks its quota rows, decides on their committed values, and writes people, claims, parcels,
audit rows and units; whatever its snapshot missed is refused by the constraints, and the batch is then written
claim by claim. Real threads and real connections: a second connection holds a quota row ``FOR UPDATE`` (and
writes under it) while a batch waits for it; the waiting batch is seen in ``pg_stat_activity``.

A batch's contents are made certain with a gate: a claim on another campaign is sent first while its quota row
is held, so that the writer's first batch waits on that lock while the claims under test queue behind it; when
the gate opens they are taken out of the queue together, as one batch."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from allot.core.errors import DomainError
from allot.core.models import AuditLog
from allot.delivery.models import Parcel
from allot.delivery.services import parcel_build
from allot.firstcome import services, writer
from allot.firstcome.models import Claim, Quota
from allot.firstcome.selectors import window
from allot.identity import crypto, validation
from allot.identity.models import Person
from allot.identity.services import id_index, person_build, person_upsert_id, phone_index
from tests.conftest import make_phone
from tests.firstcome.hangzhou import build_hangzhou, claim_request, claim_unique_constraint_dropped, clear_caches

pytestmark = pytest.mark.postgres

ACCEPTED_ACTION = "allot.firstcome.claim_accepted"
XIHU, SHANGCHENG = "330106", "330102"
SHANGCHENG_ADDRESS = {"district": SHANGCHENG, "street": "330102001000", "committee": "330102001001"}
WAIT = 20.0   # seconds any wait of these tests may take before it is a failure


@pytest.fixture(autouse=True)
def _fresh():
    assert connection.vendor == "postgresql"
    clear_caches()
    services._claim_writer.batches = services._claim_writer.jobs = 0
    yield
    clear_caches()


# --- helpers ----------------------------------------------------------------------------------------------

def _quota(campaign, day: dt.date | None = None, scope_key: str = "city") -> Quota:
    q = services.quota_get_or_create(campaign=campaign, day=day or window(campaign).day, scope_key=scope_key)
    assert q is not None
    return q


def _job(campaign, n: int, *, now: dt.datetime | None = None, number: str | None = None, **over: Any
         ) -> writer.ClaimJob:
    """The job ``services.claim_job`` hands the writer for ``claim_request(n, **over)`` (nothing to count)."""
    now = now or timezone.now()
    w = window(campaign, now)
    parsed = services._parse(campaign, claim_request(n, **over))
    idx = id_index(parsed.person.id_number)
    quota_id = services._quota_id(campaign, w.day, parsed.scope_key)
    claim = services._claim_build(campaign, w, quota_id, parsed, "web", now)
    if number is not None:
        claim.number = number
    return writer.ClaimJob(
        person=person_build(data=parsed.person), claim=claim,
        parcel=parcel_build(claim=claim, address=parsed.address) if parsed.address is not None else None,
        audit_data=services._audit_data(campaign, w, quota_id, parsed), actor_label="resident/web",
        fallback=functools.partial(services._write, campaign, w, quota_id, parsed, idx, "web", now))


def _idx(n: int, **over: Any) -> str:
    return id_index(validation.normalize_id_number(claim_request(n, **over).id_number))


def _claim_of(campaign, n: int, day: dt.date | None = None) -> Claim:
    return Claim.objects.get(campaign=campaign, day=day or window(campaign).day, person__id_index=_idx(n))


def _claim(campaign, n: int, *, now: dt.datetime | None = None, **over: Any) -> str:
    """``claim_create`` for ``claim_request(n)``: "ok:<number>" or the error code."""
    try:
        claim = services.claim_create(campaign=campaign, request=claim_request(n, **over), list_ids=(), now=now)
    except DomainError as exc:
        return exc.code
    except Exception as exc:  # noqa: BLE001 - any other failure is an outcome the test must see
        return f"error:{type(exc).__name__}: {exc}"
    return f"ok:{claim.number}"


def _thread(fn: Callable[[], Any], out: dict[str, Any], key: str) -> threading.Thread:
    """``fn`` in a thread of its own (its own connection, closed at the end); its result or error in ``out``."""
    def run() -> None:
        try:
            out[key] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which asserts on it
            out[key] = exc
        finally:
            connections.close_all()

    t = threading.Thread(target=run)
    t.start()
    return t


class _RowHolder:
    """Another connection holding one quota row ``FOR UPDATE`` in an open transaction: ``first`` runs in it as soon
    as the row is locked, ``then`` once ``commit()`` is called, just before it commits (both under the lock)."""

    def __init__(self, quota_id: int, *, first: Callable[[], Any] | None = None,
                 then: Callable[[], Any] | None = None) -> None:
        self._locked, self._release = threading.Event(), threading.Event()
        self.out: dict[str, Any] = {}

        def hold() -> Any:
            with transaction.atomic():
                Quota.objects.select_for_update().get(pk=quota_id)
                if first is not None:
                    first()
                self._locked.set()
                assert self._release.wait(WAIT)
                return then() if then is not None else None

        self._hold = hold
        self._thread: threading.Thread | None = None

    def start(self) -> _RowHolder:
        self._thread = _thread(self._hold, self.out, "then")
        assert self._locked.wait(WAIT), self.out
        return self

    def commit(self) -> Any:
        """Release: ``then``, commit; ``then``'s result."""
        assert self._thread is not None
        self._release.set()
        self._thread.join(WAIT)
        assert not self._thread.is_alive()
        if isinstance(self.out.get("then"), BaseException):
            raise self.out["then"]
        return self.out.get("then")

    def __enter__(self) -> _RowHolder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        if self._thread is not None:
            self._thread.join(WAIT)


def _batches_waiting_for_a_lock() -> int:
    """Batch statements (``_pg_batch_sql``) of other connections now waiting for a lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE 'WITH doc AS %%'")
        return cursor.fetchone()[0]


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def _queued() -> int:
    with services._claim_writer._cond:
        return len(services._claim_writer._queue)


class _Claimants:
    """Each person claims (``claim_create``) from a thread of their own, all at once."""

    def __init__(self, campaign, people: list[int], **over: Any) -> None:
        barrier = threading.Barrier(len(people))

        def one(n: int) -> str:
            barrier.wait(WAIT)
            return _claim(campaign, n, **over)

        self._raw: dict[str, Any] = {}
        self._threads = [_thread(functools.partial(one, n), self._raw, str(n)) for n in people]

    def outcomes(self) -> dict[int, str]:
        """Once every thread has ended: "ok:<claim number>" or the error code, by person."""
        for t in self._threads:
            t.join(WAIT * 2)
        assert not any(t.is_alive() for t in self._threads)
        return {int(k): v for k, v in self._raw.items()}


def _in_one_batch(campaign, people: list[int], *, before_gate_opens: Callable[[], Any] | None = None,
                  after_gate_opens: Callable[[], Any] | None = None) -> dict[int, str]:
    """``people`` claim from threads of their own and their claims are written in ONE batch (the gate, module
    docstring): "ok:<claim number>" or the error code, by person. The hooks run once the claims are all queued,
    before and after the gate opens (while their batch runs)."""
    gate = build_hangzhou(quota=1, slug="gate")
    w = services._claim_writer
    jobs, batches = w.jobs, w.batches
    with _RowHolder(_quota(gate).pk) as gate_holder:
        first: dict[str, Any] = {}
        gate_thread = _thread(lambda: _claim(gate, 900), first, "gate")
        _until(lambda: _batches_waiting_for_a_lock() == 1, "the gate's batch waits for the gate")
        assert w.jobs == jobs + 1
        claimants = _Claimants(campaign, people)
        _until(lambda: _queued() == len(people), "every claim is queued behind the gate")
        if before_gate_opens is not None:
            before_gate_opens()
        gate_holder.commit()
    gate_thread.join(WAIT)
    assert first["gate"].startswith("ok:"), first
    if after_gate_opens is not None:
        after_gate_opens()
    outcomes = claimants.outcomes()
    assert w.jobs == jobs + 1 + len(people)
    assert w.batches == batches + 2, "the claims were not written in one batch"
    return outcomes


class _Batch:
    """``writer.batch_write(jobs)`` on a connection of its own, in autocommit, as the writer thread runs it."""

    def __init__(self, jobs: list[writer.ClaimJob]) -> None:
        self.jobs = jobs
        self._out: dict[str, Any] = {}
        self._thread = _thread(lambda: writer.batch_write(jobs), self._out, "result")

    def error(self) -> BaseException | None:
        """Once it has ended: what it raised, if anything."""
        self._thread.join(WAIT)
        assert not self._thread.is_alive()
        return self._out["result"]

    def outcomes(self) -> list[str]:
        if (error := self.error()) is not None:
            raise error
        return [j.outcome for j in self.jobs]


def _batch_write(jobs: list[writer.ClaimJob]) -> list[str]:
    return _Batch(jobs).outcomes()


def _assert_complete(claim: Claim, n: int) -> None:
    """An accepted claim has all its rows: its person, its parcel, one audit row naming it."""
    assert claim.person.id_index == _idx(n)
    assert Parcel.objects.get(claim=claim).district_id == claim.district_id
    audit = AuditLog.objects.get(action=ACCEPTED_ACTION, object_id=str(claim.pk))
    assert audit.object_type == "firstcome.claim"
    assert audit.data == {"day": claim.day.isoformat(), "scope": claim.scope_key, "quota": claim.quota_id,
                          "consent_version": claim.consent_version}


# --- 1. many residents at once -----------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_are_written_in_batches_and_give_exactly_the_quota():
    # given: 30 residents at once for 12 units; the quota row is held by another connection until every claim
    # has reached the writer (the writer's first batch waits for the row, the rest queue behind it)
    campaign = build_hangzhou(quota=12)
    quota = _quota(campaign)
    people = list(range(1, 31))
    w = services._claim_writer

    # when
    with _RowHolder(quota.pk) as holder:
        claimants = _Claimants(campaign, people)
        _until(lambda: w.jobs + _queued() == len(people), "every claim has reached the writer")
        holder.commit()
    outcomes = claimants.outcomes()

    # then: exactly the quota, the rest sold out
    accepted = sorted(n for n, o in outcomes.items() if o.startswith("ok:"))
    assert len(accepted) == 12, outcomes
    assert {o for o in outcomes.values() if not o.startswith("ok:")} == {"sold_out"}
    # and every accepted claim is complete, the counter right
    assert Claim.objects.count() == Parcel.objects.count() == 12
    assert AuditLog.objects.filter(action=ACCEPTED_ACTION).count() == 12
    claims = [_claim_of(campaign, n) for n in accepted]
    for n, claim in zip(accepted, claims, strict=True):
        assert outcomes[n] == f"ok:{claim.number}"
        _assert_complete(claim, n)
    assert sorted(AuditLog.objects.filter(action=ACCEPTED_ACTION).values_list("object_id", flat=True)) == sorted(
        str(c.pk) for c in claims)
    assert Quota.objects.get(pk=quota.pk).taken == 12
    # and grouped: the first batch (taken before the held row stopped it), then the rest in one
    assert w.jobs == 30
    assert w.batches == 2


# --- 2. the one-statement batch writes what the per-claim path writes ----------------------------------------

_UNSEAL = {"id_sealed": "person.id_number", "phone_sealed": "person.phone", "name_sealed": "person.name"}


def _rows_written(claim_number: str) -> dict[str, dict[str, Any]]:
    """Every column of the person, claim, parcel and audit rows of a claim, less ids, numbers and the times the
    rows were written; sealed values opened (their nonces are random)."""
    claim = Claim.objects.filter(number=claim_number).values().get()
    person = Person.objects.filter(pk=claim["person_id"]).values().get()
    parcel = Parcel.objects.filter(claim_id=claim["id"]).values().get()
    audit = AuditLog.objects.filter(action=ACCEPTED_ACTION, object_id=str(claim["id"])).values().get()
    for column, context in _UNSEAL.items():
        person[column] = crypto.unseal(person[column], context=context)
    drop = {"id", "number", "person_id", "claim_id", "object_id", "created_at", "updated_at"}
    return {name: {k: v for k, v in row.items() if k not in drop}
            for name, row in (("person", person), ("claim", claim), ("parcel", parcel), ("audit", audit))}


@pytest.mark.django_db(transaction=True)
def test_a_batch_writes_the_same_rows_as_the_per_claim_transaction(settings):
    # given
    campaign = build_hangzhou(quota=5)
    quota = _quota(campaign)
    now = timezone.now()

    # when: the same request through the batch statement (the writer thread), then, all its rows removed,
    # through the per-claim transaction
    batched = services.claim_create(campaign=campaign, request=claim_request(1), list_ids=(), now=now)
    assert services._claim_writer.jobs == 1
    by_batch = _rows_written(batched.number)
    AuditLog.objects.filter(action=ACCEPTED_ACTION).delete()
    Parcel.objects.all().delete()
    Claim.objects.all().delete()
    Person.objects.all().delete()
    Quota.objects.filter(pk=quota.pk).update(taken=0)
    settings.ALLOT_CLAIM_GROUP_COMMIT = False
    alone = services.claim_create(campaign=campaign, request=claim_request(1), list_ids=(), now=now)
    assert services._claim_writer.jobs == 1
    by_claim = _rows_written(alone.number)

    # then
    assert by_batch == by_claim
    assert by_batch["claim"]["consent_at"] == now and by_batch["person"]["phone_sealed"] == make_phone(1)


# --- 3. one claim per person per campaign day --------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_person_with_a_claim_that_day_is_already_claimed_and_takes_no_unit():
    # given: 2 claimed today; 3 claimed yesterday, and today in another campaign
    campaign, other = build_hangzhou(quota=10), build_hangzhou(quota=10, slug="other")
    today = timezone.now()
    yesterday = today - dt.timedelta(days=1)
    assert _claim(campaign, 2, now=today).startswith("ok:")
    assert _claim(campaign, 3, now=yesterday).startswith("ok:")
    assert _claim(other, 3, now=today).startswith("ok:")
    quota = Quota.objects.get(campaign=campaign, day=window(campaign, today).day)
    assert quota.taken == 1

    # when: one batch of 1 (new), 2 and 3
    outcomes = _batch_write([_job(campaign, n, now=today) for n in (1, 2, 3)])

    # then: 2 is refused, its first claim left alone; 3's claims elsewhere do not count
    assert outcomes == [writer.ACCEPTED, writer.ALREADY, writer.ACCEPTED]
    day = window(campaign, today).day
    assert Claim.objects.filter(campaign=campaign, day=day, person__id_index=_idx(2)).count() == 1
    assert Claim.objects.filter(person__id_index=_idx(3)).count() == 3
    assert Person.objects.filter(id_index=_idx(2)).count() == 1
    assert Quota.objects.get(pk=quota.pk).taken == 3
    assert AuditLog.objects.filter(action=ACCEPTED_ACTION).count() == 5


# --- 4. returning residents ----------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_returning_resident_keeps_their_person_row_and_a_new_phone_is_written_to_it():
    # given: 1 and 2 claimed yesterday
    campaign = build_hangzhou(quota=10)
    today = timezone.now()
    for n in (1, 2):
        assert _claim(campaign, n, now=today - dt.timedelta(days=1)).startswith("ok:")
    before = {n: Person.objects.filter(id_index=_idx(n)).values().get() for n in (1, 2)}

    # when: today, in one batch: 1 as before, 2 with a new phone, 3 new
    jobs = [_job(campaign, 1, now=today), _job(campaign, 2, now=today, phone=make_phone(77)),
            _job(campaign, 3, now=today)]
    outcomes = _batch_write(jobs)

    # then: 1's row is untouched (not even rewritten)
    assert outcomes == [writer.ACCEPTED] * 3
    after = {n: Person.objects.filter(id_index=_idx(n)).values().get() for n in (1, 2, 3)}
    assert after[1] == before[1]
    # and 2 has the same id and the new phone
    assert after[2]["id"] == before[2]["id"]
    assert after[2]["phone_index"] == phone_index(make_phone(77)) != before[2]["phone_index"]
    assert crypto.unseal(after[2]["phone_sealed"], context="person.phone") == make_phone(77)
    assert after[2]["phone_masked"] != before[2]["phone_masked"]
    assert after[2]["updated_at"] > before[2]["updated_at"]
    assert after[2]["id_sealed"] == before[2]["id_sealed"] and after[2]["created_at"] == before[2]["created_at"]
    # and every claim, and every job, names the right person
    for n, job in zip((1, 2, 3), jobs, strict=True):
        assert job.person.pk == job.claim.person_id == after[n]["id"]
        assert _claim_of(campaign, n, window(campaign, today).day).person_id == after[n]["id"]
    assert Person.objects.count() == 3


# --- 5. several quotas in one batch -------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_batch_accepts_per_quota_in_arrival_order_and_a_sold_out_area_refuses_only_its_own():
    # given: district quotas, 2 units in 西湖 and 3 in 上城
    campaign = build_hangzhou(quota=None, scope="district")
    services.quota_plan_set(campaign=campaign, scope_key=XIHU, units_per_day=2)
    services.quota_plan_set(campaign=campaign, scope_key=SHANGCHENG, units_per_day=3)
    xihu, shangcheng = _quota(campaign, scope_key=XIHU), _quota(campaign, scope_key=SHANGCHENG)

    # when: one batch, the areas interleaved; 西湖 sells out at its third claim, 上城 claims come after it
    arrivals = [(1, XIHU), (2, SHANGCHENG), (3, XIHU), (4, XIHU), (5, SHANGCHENG), (6, XIHU), (7, SHANGCHENG),
                (8, SHANGCHENG)]
    jobs = [_job(campaign, n, **({} if area == XIHU else SHANGCHENG_ADDRESS)) for n, area in arrivals]
    outcomes = _batch_write(jobs)

    # then: the first 2 of 西湖 and the first 3 of 上城
    assert dict(zip([n for n, _a in arrivals], outcomes, strict=True)) == {
        1: "accepted", 2: "accepted", 3: "accepted", 4: "sold_out", 5: "accepted", 6: "sold_out", 7: "accepted",
        8: "sold_out"}
    for n, area in ((1, XIHU), (3, XIHU), (2, SHANGCHENG), (5, SHANGCHENG), (7, SHANGCHENG)):
        claim = _claim_of(campaign, n)
        assert claim.quota_id == (xihu if area == XIHU else shangcheng).pk and claim.district_id == area
        _assert_complete(claim, n)
    assert Claim.objects.count() == 5
    assert Quota.objects.get(pk=xihu.pk).taken == 2
    assert Quota.objects.get(pk=shangcheng.pk).taken == 3


# --- 6. lock, then decide on the committed values ------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_batch_waits_for_the_quota_row_and_decides_on_what_the_other_writer_committed():
    # given: 10 units; another writer holds the row and has taken 6 of them, not yet committed
    campaign = build_hangzhou(quota=10)
    quota = _quota(campaign)
    jobs = [_job(campaign, n) for n in range(1, 9)]

    def take_six() -> None:
        Quota.objects.filter(pk=quota.pk).update(taken=F("taken") + 6)

    with _RowHolder(quota.pk, first=take_six) as holder:
        # when: a batch of 8 starts while the row is held: committed, 10 units are left
        batch = _Batch(jobs)
        _until(lambda: _batches_waiting_for_a_lock() == 1, "the batch waits for the quota row")
        assert Quota.objects.get(pk=quota.pk).taken == 0
        # and the other writer commits
        holder.commit()

    # then: the batch itself (not a per-claim retry) accepted the 4 units left, in order of arrival
    assert batch.error() is None
    assert batch.outcomes() == [writer.ACCEPTED] * 4 + [writer.SOLD_OUT] * 4
    assert Quota.objects.get(pk=quota.pk).taken == 10
    assert Claim.objects.count() == Parcel.objects.count() == 4


# --- 7. what the snapshot missed, the constraint refuses -----------------------------------------------------

def _batch_meets_a_claim_its_snapshot_missed(campaign, quota: Quota) -> tuple[dict[int, str], str]:
    """1 (a returning resident), 2 and 3 claim in one batch; another writer holds the quota row and, once that
    batch's statement waits for the row, claims for 1 (its own batch of one, inline in its transaction) and
    commits: a claim the waiting statement's snapshot cannot see. The outcomes of 1, 2, 3 and the other's."""
    person_upsert_id(data=services._parse(campaign, claim_request(1)).person)
    other = _RowHolder(quota.pk, then=lambda: _claim(campaign, 1))
    claimed: dict[str, str] = {}

    def claim_1_and_commit() -> None:
        _until(lambda: _batches_waiting_for_a_lock() == 1, "the batch waits for the quota row")
        claimed["1"] = other.commit()

    outcomes = _in_one_batch(campaign, [1, 2, 3], before_gate_opens=other.start, after_gate_opens=claim_1_and_commit)
    assert claimed["1"].startswith("ok:"), claimed
    return outcomes, claimed["1"]


@pytest.mark.django_db(transaction=True)
def test_without_the_unique_constraint_a_batch_gives_a_second_claim_to_a_person_its_snapshot_missed():
    # given: the unique constraint (campaign, day, person) dropped
    campaign = build_hangzhou(quota=10)
    quota = _quota(campaign)
    with claim_unique_constraint_dropped():
        # when
        outcomes, _other = _batch_meets_a_claim_its_snapshot_missed(campaign, quota)

        # then: the race is real — the batch's "already" check did not see the other writer's claim
        assert outcomes[1].startswith("ok:"), outcomes
        assert Claim.objects.filter(campaign=campaign, person__id_index=_idx(1)).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_claim_committed_while_the_batch_waits_fails_the_batch_and_its_claims_are_written_one_by_one(caplog):
    # given
    campaign = build_hangzhou(quota=10)
    quota = _quota(campaign)

    # when
    outcomes, other = _batch_meets_a_claim_its_snapshot_missed(campaign, quota)

    # then: it happened — the batch's statement failed on the unique constraint and was rolled back
    rolled_back = [r.getMessage() for r in caplog.records if "rolled back" in r.getMessage()]
    assert len(rolled_back) == 1 and "one_claim_per_person_day" in rolled_back[0], rolled_back
    # and, one by one: 1 already has the other writer's claim, 2 and 3 are accepted
    assert outcomes == {1: "already_claimed", 2: f"ok:{_claim_of(campaign, 2).number}",
                        3: f"ok:{_claim_of(campaign, 3).number}"}
    assert _claim_of(campaign, 1).number == other[3:]
    assert Claim.objects.filter(campaign=campaign).count() == 3
    assert Quota.objects.get(pk=quota.pk).taken == 3
    for n in (1, 2, 3):
        _assert_complete(_claim_of(campaign, n), n)
    assert Person.objects.filter(id_index=_idx(1)).count() == 1


# --- 8. a failed batch writes nothing, then each claim alone --------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_on_one_claim_writes_none_of_them():
    # given: a claim whose number the second job of the next batch draws again
    campaign = build_hangzhou(quota=10)
    quota = _quota(campaign)
    first = services.claim_create(campaign=campaign, request=claim_request(1), list_ids=())
    jobs = [_job(campaign, 2), _job(campaign, 3, number=first.number), _job(campaign, 4)]

    # when
    with pytest.raises(IntegrityError, match="number"):
        _batch_write(jobs)

    # then: all or nothing
    assert not Person.objects.filter(id_index__in=[_idx(n) for n in (2, 3, 4)]).exists()
    assert list(Claim.objects.values_list("number", flat=True)) == [first.number]
    assert Parcel.objects.count() == 1
    assert AuditLog.objects.filter(action=ACCEPTED_ACTION).count() == 1
    assert Quota.objects.get(pk=quota.pk).taken == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_batch_is_rolled_back_and_its_claims_written_one_by_one(monkeypatch, caplog):
    # given: the first claim number drawn (the gate's claim, written before the batch) is drawn again by the next
    # claim (a collision the unique index refuses)
    drawn: list[str] = []
    real = services.random_code
    lock = threading.Lock()

    def twice_then_fresh(length: int) -> str:
        with lock:
            drawn.append(drawn[0] if len(drawn) == 1 else real(length))
            return drawn[-1]

    monkeypatch.setattr(services, "random_code", twice_then_fresh)
    campaign = build_hangzhou(quota=10)
    quota = _quota(campaign)

    # when: 2, 3 and 4 in one batch, after the gate's claim
    outcomes = _in_one_batch(campaign, [2, 3, 4])

    # then: the batch failed on the claim number, each claim was then written alone with a fresh number
    assert drawn[0] == drawn[1]
    rolled_back = [r.getMessage() for r in caplog.records if "rolled back" in r.getMessage()]
    assert len(rolled_back) == 1 and "claim_number_once" in rolled_back[0], rolled_back
    assert all(o.startswith("ok:") for o in outcomes.values()), outcomes
    assert drawn[0] not in {o[3:] for o in outcomes.values()}
    for n in (2, 3, 4):
        _assert_complete(_claim_of(campaign, n), n)
    assert Claim.objects.filter(campaign=campaign).count() == 3
    assert Quota.objects.get(pk=quota.pk).taken == 3
    assert AuditLog.objects.filter(action=ACCEPTED_ACTION).count() == 4   # the gate's claim's included


@pytest.mark.django_db   # the caller is inside a transaction: the claim is written inline, in a savepoint
def test_inside_a_transaction_a_failed_batch_is_written_one_by_one(monkeypatch, caplog):
    # given: a claim number the next claim will draw again
    campaign = build_hangzhou(quota=10)
    first = services.claim_create(campaign=campaign, request=claim_request(1), list_ids=())
    numbers = iter([first.number])
    real = services.random_code
    monkeypatch.setattr(services, "random_code", lambda n: next(numbers, None) or real(n))
    assert connection.in_atomic_block

    # when
    second = services.claim_create(campaign=campaign, request=claim_request(2), list_ids=())

    # then: the failed statement did not abort the caller's transaction; the claim was written alone
    assert "rolled back" in caplog.text
    assert second.number != first.number
    assert Claim.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_one_new_person_in_two_campaigns_in_one_batch_is_written_once(caplog):
    # given: the same new person claiming in two campaigns, and someone else (one batch: the keys differ)
    a, b = build_hangzhou(quota=5), build_hangzhou(quota=5, slug="other")
    jobs = [_job(a, 1), _job(b, 1), _job(a, 2)]
    assert len({j.key for j in jobs}) == 3

    # when
    outcomes = _batch_write(jobs)

    # then: the batch itself wrote them (no error to fall back from), one person row for the two claims
    assert outcomes == ["accepted"] * 3
    assert jobs[0].person.pk == jobs[1].person.pk
    assert Person.objects.filter(id_index=_idx(1)).count() == 1
    assert Claim.objects.filter(person_id=jobs[0].person.pk).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_pickup_campaign_batch_writes_claims_without_parcels():
    # given: a campaign collected at pharmacies (no address, no parcel), 2 units; 3 residents in one batch
    campaign = build_hangzhou(quota=2, fulfilment="pickup", slug="pickup-masks")
    jobs = [_job(campaign, n) for n in (1, 2, 3)]
    assert [j.parcel for j in jobs] == [None] * 3

    # when
    outcomes = _batch_write(jobs)

    # then: the first two accepted with their person and audit rows, no parcel anywhere, the third sold out
    assert outcomes == ["accepted", "accepted", "sold_out"]
    assert Claim.objects.filter(campaign=campaign).count() == 2
    assert not Parcel.objects.exists()
    for job in jobs[:2]:
        assert Claim.objects.get(pk=job.claim.pk).person_id == job.person.pk
        assert AuditLog.objects.filter(action=ACCEPTED_ACTION, object_id=str(job.claim.pk)).count() == 1
    assert _quota(campaign).taken == 2
