"""Group commit of first-come claims: one writer thread per process writes the claims that arrive together in one
transaction of a few multi-row statements, instead of one transaction of five statements per claim.

Why: in the surge the database work of a claim was mostly per-statement and per-commit overhead — on SQLite the
commit (~0.3 ms: the WAL pages of five tables and their indexes) and on PostgreSQL seven round trips (BEGIN, five
statements, COMMIT). A batch of N claims costs about the same number of statements as one claim
(docs/adr/0009-group-commit.md, bench/README.md).

What does not change: a claim is accepted only if its area has a unit left and the person has no claim that
campaign day, and it is committed before the resident is told yes — the request thread waits until the batch
holding its claim has committed. The unique constraint (campaign, day, person) and ``quota_not_oversold`` stay
the backstop; the quota row is locked (``SELECT … FOR UPDATE`` on PostgreSQL, the write lock of ``BEGIN
IMMEDIATE`` on SQLite) before the batch decides, and its ``UPDATE … WHERE taken + n <= units`` must hit one row
or the batch is rolled back. When a batch fails for any reason it is rolled back and its claims are written one
by one by the per-claim transaction (``services._write``), which decides each of them as before.

A caller already inside a transaction (``connection.in_atomic_block``: a test case, or a service composing
this one) gets its claim written inline, as a batch of one in its own transaction: the writer thread's
connection could not see the caller's uncommitted rows.

Several processes on one SQLite file (granian workers): each batch transaction, and each per-claim transaction
of a failed batch, first takes its turn in ``core.locking.sqlite_write_queue`` (an ``flock`` on a file next to
the database), and the writer takes its batch out of the queue only once it has the turn, so that the claims
that arrived while it waited for the other process go into this batch. Without the turn the writers met in
SQLite's busy handler, which sleeps in steps of 1, 2, 5 … 100 ms rather than waking when the lock is freed: two
processes wrote no more claims than one (docs/adr/0009, "Several SQLite processes").
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, close_old_connections, connection, transaction

from allot.core.audit import audit_entry
from allot.core.locking import sqlite_write_queue
from allot.core.rows import rows_insert
from allot.delivery.models import Parcel
from allot.firstcome.models import Claim, Quota
from allot.identity.models import Person
from allot.identity.services import UPSERT_CONFLICT

logger = logging.getLogger("allot.firstcome")

MAX_BATCH = 64
IDLE_CLOSE_SECONDS = 5.0
ACCEPTED, SOLD_OUT, ALREADY = "accepted", "sold_out", "already"


@dataclass(eq=False)
class ClaimJob:
    """One claim to write: the rows built by the request thread (person, claim, parcel), unsaved."""

    person: Person
    claim: Claim
    parcel: Parcel | None
    audit_data: dict[str, Any]
    actor_label: str
    fallback: Callable[[], Claim]          # the per-claim transaction (services._write) for this claim
    outcome: str = ""
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> tuple[int, dt.date, str]:
        return (self.claim.campaign_id, self.claim.day, self.person.id_index)


class _BatchRefused(Exception):
    """The quota UPDATE of a batch did not hit its row: roll back and write the claims one by one."""


_QUOTA_LOCK_PG = f"SELECT id, units, taken FROM {Quota._meta.db_table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE"  # noqa: S608
_QUOTA_TAKE = f"UPDATE {Quota._meta.db_table} SET taken = taken + %s WHERE id = %s AND taken + %s <= units"  # noqa: S608


def _quota_left(quota_ids: list[int]) -> dict[int, int]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_QUOTA_LOCK_PG, [quota_ids])
        else:   # SQLite: BEGIN IMMEDIATE already holds the database's write lock
            marks = ", ".join(["%s"] * len(quota_ids))
            cursor.execute(f"SELECT id, units, taken FROM {Quota._meta.db_table} WHERE id IN ({marks})",  # noqa: S608
                           quota_ids)
        return {pk: units - taken for pk, units, taken in cursor.fetchall()}


_ALREADY = (f"SELECT c.campaign_id, c.day, p.id_index FROM {Claim._meta.db_table} c "  # noqa: S608
            f"JOIN {Person._meta.db_table} p ON p.id = c.person_id WHERE p.id_index IN ({{marks}})")


def _already_claimed(jobs: list[ClaimJob]) -> set[tuple[int, dt.date, str]]:
    """(campaign, day, person) of the batch's people that already have a claim (any campaign day: the few rows
    of other days are filtered here)."""
    indexes = sorted({j.person.id_index for j in jobs})
    with connection.cursor() as cursor:
        cursor.execute(_ALREADY.format(marks=", ".join(["%s"] * len(indexes))), indexes)
        rows = cursor.fetchall()
    day_field = Claim._meta.get_field("day")
    return {(campaign_id, day_field.to_python(day), idx) for campaign_id, day, idx in rows}


def batch_write(jobs: list[ClaimJob]) -> None:
    """Decide and write ``jobs`` (distinct people) in one transaction; sets each job's ``outcome``. Raises on any
    database error, having rolled back: the caller then writes the claims one by one."""
    with transaction.atomic():
        left = _quota_left(sorted({j.claim.quota_id for j in jobs}))
        already = _already_claimed(jobs)
        accepted: list[ClaimJob] = []
        for job in jobs:    # in order of arrival
            if job.key in already:
                job.outcome = ALREADY
            elif left.get(job.claim.quota_id, 0) > 0:
                left[job.claim.quota_id] -= 1
                accepted.append(job)
            else:
                job.outcome = SOLD_OUT
        if not accepted:
            return
        people = sorted((j.person for j in accepted), key=lambda p: p.id_index)   # a fixed lock order
        rows_insert(people, match="id_index", on_conflict=UPSERT_CONFLICT)
        unchanged = [p.id_index for p in people if p.pk is None]   # returning residents, same phone and name
        if unchanged:
            ids = dict(Person.objects.filter(id_index__in=unchanged).values_list("id_index", "pk"))
            for p in people:
                if p.pk is None:
                    p.pk = ids[p.id_index]
        for job in accepted:
            job.claim.person_id = job.person.pk
        claims = rows_insert([j.claim for j in accepted], match="number")
        if len(claims) != len(accepted):
            raise _BatchRefused("claim rows")
        parcels = []
        for job in accepted:
            if job.parcel is not None:
                job.parcel.claim = job.claim
                parcels.append(job.parcel)
        if len(rows_insert(parcels, match="number")) != len(parcels):
            raise _BatchRefused("parcel rows")
        audits = [audit_entry("allot.firstcome.claim_accepted", obj=j.claim, actor_label=j.actor_label,
                              data=j.audit_data) for j in accepted]
        rows_insert(audits, match=None)
        taken = collections.Counter(j.claim.quota_id for j in accepted)
        with connection.cursor() as cursor:
            for quota_id in sorted(taken):
                cursor.execute(_QUOTA_TAKE, [taken[quota_id], quota_id, taken[quota_id]])
                if cursor.rowcount != 1:
                    raise _BatchRefused(f"quota {quota_id}")
        for job in accepted:
            job.outcome = ACCEPTED


class ClaimWriter:
    """The per-process writer thread. ``write(job)`` returns once the job's batch has committed (or the job was
    written alone after a failed batch); the outcome is on the job."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock                     # services._one_writer: one SQLite writer per process
        self._cond = threading.Condition()
        self._queue: collections.deque[ClaimJob] = collections.deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.batches = self.jobs = 0     # counts, for the benchmark's report

    def write(self, job: ClaimJob) -> None:
        if connection.in_atomic_block:
            self._run([job])
            return
        if connection.vendor == "postgresql" and connection.settings_dict.get("OPTIONS", {}).get("pool"):
            # With a connection pool, a request thread that waited for the writer while holding its pooled
            # connection could, with as many such threads as the pool has connections, leave the writer none:
            # give it back first (with a pool, close() only returns the connection to the pool).
            connection.close()
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="allot-claim-writer", daemon=True)
                self._thread.start()
            self._queue.append(job)
            self._cond.notify()
        job.done.wait()

    def stop(self) -> None:
        """End the writer thread once its queue is empty (it closes its database connection); the next
        ``write`` starts a new one. For tests and shutdown."""
        with self._cond:
            thread, self._stopping = self._thread, True
            self._cond.notify()
        if thread is not None:
            thread.join(timeout=10)
        with self._cond:
            self._stopping = False

    def _loop(self) -> None:
        try:
            self._serve()
        finally:
            connection.close()

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    if self._stopping:
                        self._thread = None
                        return
                    if not self._cond.wait(timeout=IDLE_CLOSE_SECONDS):
                        connection.close()   # idle: give the connection back (PostgreSQL counts them)
            batch: list[ClaimJob] = []
            try:
                close_old_connections()
                # The turn first, then the batch: with several processes on one SQLite file, the claims that
                # arrive while this writer waits for another process's transaction join this batch, not the next.
                with sqlite_write_queue():
                    batch = self._take()
                    self.batches += 1
                    self.jobs += len(batch)
                    failed = self._write(batch)
                self._settle(batch, failed)
            except BaseException as exc:   # never let the thread die with residents waiting
                logger.exception("claim writer failed a batch")
                for job in batch:
                    if not job.done.is_set():
                        job.error = exc
                        job.done.set()

    def _take(self) -> list[ClaimJob]:
        """Up to ``MAX_BATCH`` queued jobs, one person at most once (a second claim of theirs waits for the next
        batch)."""
        with self._cond:
            batch: list[ClaimJob] = []
            seen: set[tuple[int, dt.date, str]] = set()
            later: list[ClaimJob] = []
            while self._queue and len(batch) < MAX_BATCH:
                job = self._queue.popleft()
                (later if job.key in seen else batch).append(job)
                seen.add(job.key)
            self._queue.extendleft(reversed(later))
        return batch

    def _run(self, batch: list[ClaimJob]) -> None:
        """Inline, in the caller's transaction (no turn: it may already hold SQLite's lock)."""
        self._settle(batch, self._write(batch))

    def _write(self, batch: list[ClaimJob]) -> Exception | None:
        """``batch_write``; the error that rolled it back, if any."""
        try:
            with self._lock():
                batch_write(batch)
        except (DatabaseError, _BatchRefused) as exc:
            return exc
        return None

    def _settle(self, batch: list[ClaimJob], failed: Exception | None) -> None:
        """Tell the batch's request threads; after a rolled-back batch, write its claims one by one first (each
        in a turn of its own: never inside the batch's turn)."""
        if failed is not None:
            logger.warning("claim batch of %d rolled back (%s); writing its claims one by one", len(batch), failed)
            for job in batch:
                self._one(job)
            return
        for job in batch:
            job.done.set()

    @staticmethod
    def _one(job: ClaimJob) -> None:
        job.outcome, job.error = "", None
        try:
            with sqlite_write_queue():
                job.claim = job.fallback()
            job.outcome = ACCEPTED
        except BaseException as exc:  # noqa: BLE001  (handed to the waiting request thread, which raises it)
            job.error = exc
        finally:
            job.done.set()
