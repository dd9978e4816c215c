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
import contextlib
import datetime as dt
import functools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import psycopg
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from allot.core.audit import audit_entry
from allot.core.locking import sqlite_write_queue
from allot.core.models import AuditLog
from allot.core.rows import insert_fields, json_recordset, json_row, key_set, rows_insert
from allot.delivery.models import Parcel
from allot.firstcome.models import Claim, Quota
from allot.identity.models import Person
from allot.identity.services import UPSERT_CONFLICT

logger = logging.getLogger("allot.firstcome")

MAX_BATCH = 64
IDLE_CLOSE_SECONDS = 5.0
ACCEPTED, SOLD_OUT, ALREADY = "accepted", "sold_out", "already"


class Waker(Protocol):
    """Told once per batch which of its jobs are done (``ClaimJob.waker``): the claim lane resolves its futures
    with one call into its event loop per batch instead of one per claim (``allot/api/v1/claim_lane.py``)."""

    def wake(self, jobs: list[ClaimJob]) -> None: ...


@dataclass(eq=False)
class ClaimJob:
    """One claim to write: the rows built by the request thread (person, claim, parcel), unsaved.

    ``plan`` and ``count`` are the service's (``services.ClaimPlan``; what to count before the unit) for the
    writer's ``before``/``after`` steps; ``taken``: a unit was taken for it in Redis (given back if the database
    says no). A job ends with ``outcome`` ACCEPTED, or with ``error`` set; then ``done`` is set and its ``waker``
    (if any) told."""

    person: Person
    claim: Claim
    parcel: Parcel | None
    audit_data: dict[str, Any]
    actor_label: str
    fallback: Callable[[], Claim]          # the per-claim transaction (services._write) for this claim
    plan: Any = None
    count: Any = None
    waker: Waker | None = None
    language: str = ""                     # of the request: the writer's refusals are worded in it
    taken: bool = False
    outcome: str = ""
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> tuple[int, dt.date, str]:
        return (self.claim.campaign_id, self.claim.day, self.person.id_index)


def job_release(job: ClaimJob) -> None:
    """Once the answer to ``job`` is built: unlink its claim and parcel, which cache each other (``parcel.claim =
    claim`` sets both sides) — a reference cycle, so reference counting never freed them and the garbage collector
    had to. On the claim lane some ten objects a claim piled up in the young generation until a collection walked
    them all at once and stopped the event loop for 100-170 ms (bench/README.md, eighth session)."""
    for obj in (job.claim, job.parcel):
        if obj is not None:
            obj._state.fields_cache.clear()


def jobs_finish(jobs: list[ClaimJob]) -> None:
    """Set each job's ``done`` and tell each waker once about its jobs."""
    wakers: dict[int, tuple[Waker, list[ClaimJob]]] = {}
    for job in jobs:
        job.done.set()
        if job.waker is not None:
            wakers.setdefault(id(job.waker), (job.waker, []))[1].append(job)
    for waker, mine in wakers.values():
        try:
            waker.wake(mine)
        except Exception:   # a closed event loop (shutdown): the jobs are done all the same
            logger.exception("could not wake a claim's waiter")


class BatchRefused(Exception):
    """The quota UPDATE of a batch did not hit its row: roll back and write the claims one by one."""


_QUOTA_TAKE = f"UPDATE {Quota._meta.db_table} SET taken = taken + %s WHERE id = %s AND taken + %s <= units"  # noqa: S608


def _quota_left(quota_ids: list[int]) -> dict[int, int]:
    """Units left per quota (SQLite: ``BEGIN IMMEDIATE`` already holds the database's write lock)."""
    with connection.cursor() as cursor:
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
    if connection.vendor == "postgresql":
        _batch_write_pg(jobs)
        return
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
        _rows_write(accepted)
        for job in accepted:
            job.outcome = ACCEPTED


def _rows_write(accepted: list[ClaimJob]) -> None:
    """People, claims, parcels, audit rows and the units of the accepted jobs, a few multi-row statements."""
    now = timezone.now()   # one instant for the batch's created_at/updated_at
    people = sorted((j.person for j in accepted), key=lambda p: p.id_index)   # a fixed lock order
    rows_insert(people, match="id_index", on_conflict=UPSERT_CONFLICT, now=now)
    unchanged = [p.id_index for p in people if p.pk is None]   # returning residents, same phone and name
    if unchanged:
        ids = dict(Person.objects.filter(id_index__in=unchanged).values_list("id_index", "pk"))
        for p in people:
            if p.pk is None:
                p.pk = ids[p.id_index]
    for job in accepted:
        job.claim.person_id = job.person.pk
    claims = rows_insert([j.claim for j in accepted], match="number", now=now)
    if len(claims) != len(accepted):
        raise BatchRefused("claim rows")
    parcels = []
    for job in accepted:
        if job.parcel is not None:
            job.parcel.claim = job.claim
            parcels.append(job.parcel)
    if len(rows_insert(parcels, match="number", now=now)) != len(parcels):
        raise BatchRefused("parcel rows")
    audits = [audit_entry("allot.firstcome.claim_accepted", obj=j.claim, actor_label=j.actor_label,
                          data=j.audit_data) for j in accepted]
    rows_insert(audits, match=None, now=now)
    taken = collections.Counter(j.claim.quota_id for j in accepted)
    with connection.cursor() as cursor:
        for quota_id in sorted(taken):
            cursor.execute(_QUOTA_TAKE, [taken[quota_id], quota_id, taken[quota_id]])
            if cursor.rowcount != 1:
                raise BatchRefused(f"quota {quota_id}")


_PERSON_KEY, _CLAIM_NUMBER, _ORD = "person_key", "claim_number", "ord"
_PREPARE_ONLY_ON_REQUEST = 2**31 - 1
_CLAIM_SKIP, _PARCEL_SKIP, _AUDIT_SKIP = frozenset({"person_id"}), frozenset({"claim_id"}), frozenset({"object_id"})


@functools.cache
def _pg_batch_sql() -> str:
    """``batch_write`` on PostgreSQL as one statement (data-modifying CTEs) over one JSON document of the batch's
    rows. In order:

    1. ``quota_left`` locks the batch's quota rows (``FOR UPDATE``, by id) and reads their units left; a row
       another writer holds is waited for, and its committed values are read;
    2. ``already``: the jobs whose person has a claim that campaign day;
    3. ``accepted``: of the others, in order of arrival, as many per quota as it has units left;
    4. the accepted jobs' people (upsert on ``id_index`` with ``UPSERT_CONFLICT``, in a fixed order), claims,
       parcels and audit rows, keys joined by the person's index and the claim number, never by row order;
    5. each quota's ``taken = taken + n``.

    It returns one row per job: its claim's id and person id, its parcel's id, and whether it was "already".

    One statement is one transaction, all or nothing, whatever fails. The database's constraints stay the
    backstop for anything the decision missed:

    * a claim this statement's snapshot could not see (committed by another writer after the statement began)
      fails the unique constraint (campaign, day, person);
    * a person it could not see has no id: the claim's ``person_id`` is NOT NULL;
    * ``quota_not_oversold`` refuses ``taken > units``.

    A failed batch is then written claim by claim, as any failed batch is. Built from the models' meta, so a new
    column is written as soon as it exists."""
    q = connection.ops.quote_name

    def cols(model: type[Any], src: str, put: dict[str, str] | None = None) -> tuple[str, str]:
        """(insert column list, select list) of ``model``'s insert columns read from ``src``; ``put`` gives the
        expression of the columns the statement fills in itself (keys of rows it inserted)."""
        names = [str(f.column) for f in insert_fields(model)]
        put = put or {}
        return ", ".join(q(c) for c in names), ", ".join(put.get(c, f"{src}.{q(c)}") for c in names)

    person_t, person_s = cols(Person, "pi")
    person_of = f"(SELECT pa.id FROM person_all pa WHERE pa.id_index = ci.{_PERSON_KEY})"  # noqa: S608 (constant)
    claim_t, claim_s = cols(Claim, "ci", {"person_id": person_of})
    parcel_t, parcel_s = cols(Parcel, "xi", {"claim_id": "cn.id"})
    audit_t, audit_s = cols(AuditLog, "ai", {"object_id": "cn.id::text"})
    person_tab, claim_tab, parcel_tab, audit_tab, quota_tab = (
        q(m._meta.db_table) for m in (Person, Claim, Parcel, AuditLog, Quota))
    keys = ((_PERSON_KEY, "varchar"), (_ORD, "integer"))
    number = ((_CLAIM_NUMBER, "varchar"),)
    return f"""WITH doc AS (SELECT %s::jsonb AS d),
claim_in AS (SELECT ci.* FROM doc, {json_recordset(Claim, "doc.d->'claims'", "ci", skip=_CLAIM_SKIP, extra=keys)}),
quota_left AS (SELECT qt.id, qt.units - qt.taken AS left_n FROM {quota_tab} qt
  WHERE qt.id = ANY (ARRAY(SELECT DISTINCT quota_id FROM claim_in)) ORDER BY qt.id FOR UPDATE),
already AS (SELECT ci.{_ORD} FROM claim_in ci WHERE (SELECT true FROM {person_tab} p
  JOIN {claim_tab} c ON c.person_id = p.id
  WHERE p.id_index = ci.{_PERSON_KEY} AND c.campaign_id = ci.campaign_id AND c.day = ci.day LIMIT 1)),
ranked AS (SELECT ci.{_ORD}, ci.quota_id, row_number() OVER (PARTITION BY ci.quota_id ORDER BY ci.{_ORD}) AS rn
  FROM claim_in ci WHERE ci.{_ORD} NOT IN (SELECT {_ORD} FROM already)),
accepted AS (SELECT r.{_ORD}, r.quota_id FROM ranked r JOIN quota_left ql ON ql.id = r.quota_id
  WHERE r.rn <= ql.left_n),
person_in AS (SELECT pi.* FROM doc, {json_recordset(Person, "doc.d->'people'", "pi")}
  WHERE pi.id_index IN (SELECT ci.{_PERSON_KEY} FROM claim_in ci JOIN accepted a ON a.{_ORD} = ci.{_ORD})),
person_new AS (INSERT INTO {person_tab} ({person_t}) SELECT {person_s} FROM person_in pi ORDER BY pi.id_index
  {UPSERT_CONFLICT} RETURNING id, id_index),
person_all AS (SELECT id, id_index FROM person_new UNION ALL
  SELECT (SELECT p.id FROM {person_tab} p WHERE p.id_index = pi.id_index), pi.id_index FROM person_in pi
  WHERE pi.id_index NOT IN (SELECT id_index FROM person_new)),
claim_new AS (INSERT INTO {claim_tab} ({claim_t}) SELECT {claim_s} FROM claim_in ci
  JOIN accepted a ON a.{_ORD} = ci.{_ORD} ORDER BY ci.{_ORD} RETURNING id, number, person_id),
parcel_in AS (SELECT xi.* FROM doc, {json_recordset(Parcel, "doc.d->'parcels'", "xi", skip=_PARCEL_SKIP,
                                                    extra=number)}),
parcel_new AS (INSERT INTO {parcel_tab} ({parcel_t}) SELECT {parcel_s} FROM parcel_in xi
  JOIN claim_new cn ON cn.number = xi.{_CLAIM_NUMBER} RETURNING id, claim_id),
audit_in AS (SELECT ai.* FROM doc, {json_recordset(AuditLog, "doc.d->'audits'", "ai", skip=_AUDIT_SKIP,
                                                   extra=number)}),
audit_new AS (INSERT INTO {audit_tab} ({audit_t}) SELECT {audit_s} FROM audit_in ai
  JOIN claim_new cn ON cn.number = ai.{_CLAIM_NUMBER} RETURNING id),
taken AS (SELECT quota_id, count(*) AS n FROM accepted GROUP BY quota_id),
quota_new AS (UPDATE {quota_tab} qt SET taken = qt.taken + (SELECT t.n FROM taken t WHERE t.quota_id = qt.id)
  WHERE qt.id = ANY (ARRAY(SELECT quota_id FROM taken)) RETURNING qt.id)
SELECT ci.{_ORD}, cn.id, cn.person_id, xn.id, ci.{_ORD} IN (SELECT {_ORD} FROM already)
FROM claim_in ci LEFT JOIN claim_new cn ON cn.number = ci.number LEFT JOIN parcel_new xn ON xn.claim_id = cn.id"""  # noqa: S608 (identifiers from the models' meta; the values are one parameter)


def _batch_write_pg(jobs: list[ClaimJob]) -> None:
    """``batch_write`` on PostgreSQL: one statement (``_pg_batch_sql``) that decides and writes the batch, its
    rows sent as one JSON parameter. A claim cost ~40 parameters that the driver quoted one by one, and each of a
    batch's seven round trips ~100 µs of the driver's CPU (bench/README.md). Same decision as the Python one,
    same rows, same conflict clause, same constraints deciding. Outside a transaction the statement commits on
    its own; inside the caller's it is part of it."""
    payload = pg_batch_payload(jobs)
    # inside the caller's transaction, a savepoint: a failed statement must not abort the caller's transaction
    # before the claims are written one by one
    with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
        connection.ensure_connection()
        raw = connection.connection
        if raw.prepare_threshold is None:
            # Django turns psycopg's statement preparation off (None); a threshold no statement reaches keeps every
            # other statement unprepared and lets this one be prepared on request
            raw.prepare_threshold = _PREPARE_ONLY_ON_REQUEST
        # A prepared statement (server-side binding, psycopg's own cursor: Django's binds on the client), parsed
        # and planned once per connection: unprepared, PostgreSQL spent 2–3 ms of CPU a batch on it, prepared
        # 0.8–1.2 ms (bench/README.md, fourth session). Errors are translated as Django's cursor translates them.
        with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
            cursor.execute(_pg_batch_sql(), [payload], prepare=True)
            rows = cursor.fetchall()
    pg_batch_apply(jobs, rows, connection.alias)


def pg_batch_sql() -> str:
    """The batch statement (``_pg_batch_sql``), for a writer with a connection of its own (the claim lane's)."""
    return _pg_batch_sql()


def pg_batch_payload(jobs: list[ClaimJob]) -> str:
    """The statement's one parameter: the batch's rows as one JSON document (no I/O)."""
    doc: dict[str, list[Any]] = {"claims": [], "parcels": [], "audits": []}
    people: dict[str, dict[str, Any]] = {}   # one row a person: a batch may hold one person in two campaigns,
    now = timezone.now()                     # and an upsert may not touch a row twice (the latest details win)
    for n, job in enumerate(jobs):
        number = job.claim.number
        row = json_row(job.claim, skip=_CLAIM_SKIP, now=now)
        row[_PERSON_KEY], row[_ORD] = job.person.id_index, n
        doc["claims"].append(row)
        people[job.person.id_index] = json_row(job.person, now=now)
        if job.parcel is not None:
            job.parcel.claim = job.claim
            row = json_row(job.parcel, skip=_PARCEL_SKIP, now=now)
            row[_CLAIM_NUMBER] = number
            doc["parcels"].append(row)
        entry = audit_entry("allot.firstcome.claim_accepted", obj=job.claim, actor_label=job.actor_label,
                            data=job.audit_data)
        row = json_row(entry, skip=_AUDIT_SKIP, now=now)
        row[_CLAIM_NUMBER] = number
        doc["audits"].append(row)
    doc["people"] = list(people.values())
    return payload_dumps(doc)


def payload_dumps(doc: dict[str, Any]) -> str:
    """The batch's document as JSON text: by orjson, which took a tenth of the time json.dumps took (that was
    4-5 % of a server process's CPU in a calibration, bench/README.md, sixth session); by json.dumps for what
    orjson refuses (an integer past 64 bits), so that the payload is never other than json.dumps would write."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def pg_batch_apply(jobs: list[ClaimJob], rows: list[Any], alias: str) -> None:
    """The statement's answer on the jobs: keys on their rows, each job's outcome (no I/O). Raises
    ``BatchRefused`` when it does not answer for every job."""
    if len(rows) != len(jobs):
        raise BatchRefused(f"{len(rows)} answers for {len(jobs)} claims")
    for n, claim_id, person_id, parcel_id, already in sorted(rows):
        job = jobs[n]
        if claim_id is None:
            job.outcome = ALREADY if already else SOLD_OUT
            continue
        key_set(job.person, person_id, alias)
        job.claim.person_id = person_id
        key_set(job.claim, claim_id, alias)
        if job.parcel is not None:
            key_set(job.parcel, parcel_id, alias)
        job.outcome = ACCEPTED


def _connection_keep() -> None:
    """``close_old_connections`` for the writer thread, less the age limit: its connection is kept from batch to
    batch (and closed after ``IDLE_CLOSE_SECONDS`` idle). With a connection pool (``CONN_MAX_AGE`` 0) the age limit
    handed the connection back after every batch, and fetching it again cost the pool's check query and Django's
    health check: two round trips a batch. A connection left out of autocommit, or one whose error leaves it
    unusable, is closed as Django would close it."""
    if connection.connection is None:
        return
    if connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]:
        connection.close()
    elif connection.errors_occurred:
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()


Step = Callable[[list[ClaimJob]], list[ClaimJob]]


def _all(jobs: list[ClaimJob]) -> list[ClaimJob]:
    return jobs


def _nothing(jobs: list[ClaimJob]) -> list[ClaimJob]:
    return []


class ClaimWriter:
    """The per-process writer thread. For each batch: ``before(batch)`` (the service's step before the database:
    with Redis, one script call that counts the attempts and takes the units) returns the jobs still to write —
    the others carry their error; those are written in one transaction (``batch_write``; one by one after a
    failed batch); then ``after(batch)`` (units given back where the database said no, outcomes turned into the
    service's errors); then every job of the batch is done and its waiter told.

    ``write(job)`` returns once its job is done; ``submit(job)`` returns at once and the job's ``waker`` is told
    (the claim lane, which must not block its event loop)."""

    def __init__(self, lock: Any, *, before: Step = _all, after: Step = _nothing) -> None:
        self._lock = lock                     # services._one_writer: one SQLite writer per process
        self._before = before
        self._after = after
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
        self.submit(job)
        job.done.wait()

    def submit(self, job: ClaimJob) -> None:
        """Queue ``job`` for the writer thread and return; when it is done, ``job.waker`` is told. Never touches
        the caller's database connection (the claim lane calls it from its event loop)."""
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="allot-claim-writer", daemon=True)
                self._thread.start()
            self._queue.append(job)
            self._cond.notify()

    def write_alone(self, job: ClaimJob) -> None:
        """The job in the caller's thread, in a transaction of its own (``ALLOT_CLAIM_GROUP_COMMIT=false``): the
        same steps before and after, the per-claim transaction instead of a batch."""
        try:
            if self._before([job]):
                self._one(job)
            self._after([job])
        except BaseException as exc:   # noqa: BLE001 (handed to the caller as the job's error)
            if job.error is None and not job.outcome:
                job.error = exc
        jobs_finish([job])

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
                _connection_keep()
                batch = self._take()
                self.batches += 1
                self.jobs += len(batch)
                # the step before the database runs outside the SQLite turn: without Redis it counts through the
                # write-behind buffer, whose flush takes a turn of its own
                ready = self._before(batch)
                if ready:
                    with sqlite_write_queue():
                        failed = self._write(ready)
                    self._settle(ready, failed)
                self._after(batch)
            except BaseException as exc:   # never let the thread die with residents waiting
                logger.exception("claim writer failed a batch")
                for job in batch:
                    if job.error is None and job.outcome != ACCEPTED:
                        job.error = exc
            jobs_finish(batch)

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
        try:
            ready = self._before(batch)
            if ready:
                self._settle(ready, self._write(ready))
            self._after(batch)
        finally:
            jobs_finish(batch)

    def _write(self, batch: list[ClaimJob]) -> Exception | None:
        """``batch_write``; the error that rolled it back, if any."""
        try:
            with self._lock():
                batch_write(batch)
        except (DatabaseError, BatchRefused) as exc:
            return exc
        return None

    def _settle(self, batch: list[ClaimJob], failed: Exception | None) -> None:
        """After a rolled-back batch, write its claims one by one (each in a turn of its own: never inside the
        batch's turn)."""
        if failed is None:
            return
        logger.warning("claim batch of %d rolled back (%s); writing its claims one by one", len(batch), failed)
        if not connection.in_atomic_block:
            _connection_keep()     # a connection the failure broke is closed before the claims are retried
        for job in batch:
            self._one(job)

    @staticmethod
    def write_one(job: ClaimJob) -> None:
        """The job alone, by its per-claim transaction (``job.fallback``); its outcome or error on it."""
        ClaimWriter._one(job)

    @staticmethod
    def _one(job: ClaimJob) -> None:
        job.outcome, job.error = "", None
        try:
            with sqlite_write_queue():
                job.claim = job.fallback()
            job.outcome = ACCEPTED
        except BaseException as exc:  # noqa: BLE001  (handed to the waiting request thread, which raises it)
            job.error = exc
