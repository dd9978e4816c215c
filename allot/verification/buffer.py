"""Write-behind for the first-come surge path when there is no Redis: the rate-limit counts and the redeemed
proof-of-work challenges of a claim are held in the process and written to the database together, in one
transaction at most every ``ALLOT_WRITE_BEHIND_SECONDS`` (default 1.0), instead of a write transaction per claim.

Why: SQLite has one writer, and a claim already is one write transaction. A second one per claim for the limiter
and the replay memory costs the surge a large share of its throughput (measured: docs/security.md, "Cost on
the claim path"); on PostgreSQL without Redis it is a round trip and a commit per claim as well.

It stays a shared store: the tables are the same ``RateCounter`` and ``UsedChallenge`` as the direct path, so
several processes and restarts share them. A flush adds this process's increments with ``INSERT … ON CONFLICT
DO UPDATE SET count = count + excluded.count RETURNING`` and so learns each key's total, which includes every
increment the other processes have flushed. Between flushes a key's count is that total plus this process's own
increments since.

What it gives up, and the bounds:

* Within one process the counts are exact and a solution is accepted once (a lock, and the digests stay in
  memory until their row is committed).
* A key whose count reaches half its limit is flushed by the request itself (it waits for the flush), so near a
  limit every decision is made on the shared total; below half, the other processes' increments arrive up to one
  interval late. With one or two processes no key can pass its limit by more than the requests in flight.
* A challenge redeemed in one process and replayed in another before the first one's flush is accepted there
  too (each process checks the table, then its own memory): at most once per process, within one interval.
* A crash loses at most one interval of increments.

``ALLOT_WRITE_BEHIND_SECONDS = 0`` writes on every request (exact, and as costly as the direct path).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, transaction

from allot.core.conf import setting
from allot.core.locking import sqlite_write_queue
from allot.verification.models import RateCounter, UsedChallenge

logger = logging.getLogger("allot.verification")

DEFAULT_INTERVAL = 1.0
CHUNK = 200  # rows per INSERT: well below SQLite's and PostgreSQL's parameter limits
T = TypeVar("T")


@dataclass
class _Count:
    ends: int          # end of the key's window (Unix seconds)
    known: int = 0     # the shared total, as of this process's last flush of the key
    flushing: int = 0  # increments in the flush under way
    pending: int = 0   # increments since


def _chunks(rows: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i:i + CHUNK]


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _upsert_counts(cursor: Any, rows: Sequence[tuple[str, int, int]]) -> dict[str, int]:
    table, expires = _q(RateCounter._meta.db_table), RateCounter._meta.get_field("expires_at")
    sql = (f"INSERT INTO {table} ({_q('key')}, {_q('count')}, {_q('expires_at')}) VALUES "  # noqa: S608 (names from _meta)
           + ", ".join(["(%s, %s, %s)"] * len(rows))
           + f" ON CONFLICT ({_q('key')}) DO UPDATE SET {_q('count')} = {table}.{_q('count')} + "
             f"EXCLUDED.{_q('count')} RETURNING {_q('key')}, {_q('count')}")
    params: list[Any] = []
    for key, n, ends in rows:
        params += [key, n, expires.get_db_prep_save(dt.datetime.fromtimestamp(ends, tz=dt.UTC), connection)]
    cursor.execute(sql, params)
    return {str(key): int(count) for key, count in cursor.fetchall()}


def _insert_challenges(cursor: Any, rows: Sequence[tuple[str, str, int]]) -> int:
    """Insert the redeemed challenges; return how many were already there (replayed across processes)."""
    table, expires = _q(UsedChallenge._meta.db_table), UsedChallenge._meta.get_field("expires_at")
    sql = (f"INSERT INTO {table} ({_q('digest')}, {_q('purpose')}, {_q('expires_at')}) VALUES "  # noqa: S608
           + ", ".join(["(%s, %s, %s)"] * len(rows))
           + f" ON CONFLICT ({_q('digest')}) DO NOTHING RETURNING {_q('digest')}")
    params: list[Any] = []
    for digest, purpose, ends in rows:
        params += [digest, purpose, expires.get_db_prep_save(dt.datetime.fromtimestamp(ends, tz=dt.UTC), connection)]
    cursor.execute(sql, params)
    return len(rows) - len(cursor.fetchall())


def _challenge_stored(digest: str) -> bool:
    """``UsedChallenge.objects.filter(digest=…).exists()`` without the ORM's query compilation (a third of the
    cost of a proof on the claim path, measured)."""
    sql = f"SELECT 1 FROM {_q(UsedChallenge._meta.db_table)} WHERE {_q('digest')} = %s"  # noqa: S608 (names from _meta)
    with connection.cursor() as cursor:
        cursor.execute(sql, [digest])
        return cursor.fetchone() is not None


def _challenges_stored(digests: Sequence[str]) -> set[str]:
    """Which of ``digests`` are in the table: one query for a batch of claims instead of one each."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(digests))):
        marks = ", ".join(["%s"] * len(chunk))
        sql = (f"SELECT {_q('digest')} FROM {_q(UsedChallenge._meta.db_table)} "  # noqa: S608 (names from _meta)
               f"WHERE {_q('digest')} IN ({marks})")
        with connection.cursor() as cursor:
            cursor.execute(sql, list(chunk))
            found.update(row[0] for row in cursor.fetchall())
    return found


class WriteBehind:
    """One per process (``write_behind()``); safe to use from the request threads of that process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()       # guards the dicts; never held during database work
        self._flushing = threading.Lock()   # one flush at a time
        self._counts: dict[str, _Count] = {}
        self._challenges: dict[str, tuple[str, int]] = {}   # digest → (purpose, expires): not yet written
        self._writing: set[str] = set()                      # digests in the flush under way
        self._last = time.monotonic()

    @staticmethod
    def interval() -> float:
        return float(setting("ALLOT_WRITE_BEHIND_SECONDS", DEFAULT_INTERVAL))

    def _due(self) -> bool:
        return time.monotonic() - self._last >= self.interval()

    def count(self, todo: Sequence[tuple[str, int, int]]) -> list[int]:
        """Add one to each ``(key, window end, limit)`` and return each key's count. Raises ``DatabaseError``
        when a flush it had to make failed (the increments stay pending)."""
        eager = False
        with self._lock:
            for key, ends, limit in todo:
                c = self._counts.get(key)
                if c is None:
                    c = self._counts[key] = _Count(ends)
                c.pending += 1
                eager = eager or (c.known <= limit and 2 * (c.known + c.flushing + c.pending) >= limit)
        if eager or self._due():
            self.flush(wait=eager)
        with self._lock:
            return [self._total(key) for key, _ends, _limit in todo]

    def _total(self, key: str) -> int:
        c = self._counts.get(key)
        return c.known + c.flushing + c.pending if c is not None else 0

    def redeem(self, *, digest: str, purpose: str, expires_at: int) -> bool:
        """True the first time ``digest`` is redeemed: not in this process's memory, not in the table."""
        with self._lock:
            if digest in self._challenges or digest in self._writing:
                return False
        if _challenge_stored(digest):
            return False
        with self._lock:
            if digest in self._challenges or digest in self._writing:
                return False
            self._challenges[digest] = (purpose, expires_at)
        if self._due():
            self.flush(wait=False)
        return True

    def redeem_many(self, items: Sequence[tuple[str, str, int]]) -> list[bool]:
        """``redeem`` for each of ``items`` (digest, purpose, expires at) in order, the table asked once for all of
        them (the claim writer redeems a batch's proofs together): True the first time a digest is redeemed."""
        if not items:
            return []
        with self._lock:
            unknown = [d for d, _p, _e in items if d not in self._challenges and d not in self._writing]
        stored = _challenges_stored(unknown) if unknown else set()
        answers = []
        with self._lock:
            for digest, purpose, expires_at in items:
                if digest in stored or digest in self._challenges or digest in self._writing:
                    answers.append(False)
                else:
                    self._challenges[digest] = (purpose, expires_at)
                    answers.append(True)
        if self._due():
            self.flush(wait=False)
        return answers

    def flush(self, *, wait: bool = True) -> None:
        """Write what is pending in one transaction. ``wait=False`` returns at once when another thread is
        flushing (it will write this request's increments too, or the next flush will)."""
        if not self._flushing.acquire(blocking=wait):
            return
        try:
            with self._lock:
                self._last = time.monotonic()
                counts = sorted((key, c.pending, c.ends) for key, c in self._counts.items() if c.pending)
                for key, n, _ends in counts:
                    c = self._counts[key]
                    c.flushing, c.pending = n, 0
                challenges = sorted((d, p, e) for d, (p, e) in self._challenges.items())
                self._writing = {d for d, _p, _e in challenges}
                self._challenges = {}
            if not counts and not challenges:
                return
            try:
                totals, replays = self._write(counts, challenges)
            except BaseException:
                with self._lock:
                    for key, n, ends in counts:
                        c = self._counts.setdefault(key, _Count(ends))
                        c.pending, c.flushing = c.pending + n, 0
                    self._challenges.update({d: (p, e) for d, p, e in challenges})
                    self._writing = set()
                raise
            if replays:
                logger.warning("%d proof-of-work solution(s) were redeemed in two processes within one flush",
                               replays)
            with self._lock:
                for key, n, ends in counts:
                    c = self._counts.setdefault(key, _Count(ends))
                    c.known, c.flushing = totals.get(key, c.known + n), 0
                self._writing = set()
                self._forget(time.time())
        finally:
            self._flushing.release()

    @staticmethod
    def _write(counts: Sequence[tuple[str, int, int]], challenges: Sequence[tuple[str, str, int]]
               ) -> tuple[dict[str, int], int]:
        totals: dict[str, int] = {}
        replays = 0
        # keys in sorted order: two processes flushing the same keys lock their rows in the same order. On SQLite
        # the flush takes its turn with the claim writers (core.locking.sqlite_write_queue): in SQLite's busy
        # handler a flush behind a claim batch of another process waited up to ~2 s at a surge (bench/surge.py,
        # max latency), in the queue it waits for that batch only
        with sqlite_write_queue(), transaction.atomic(), connection.cursor() as cursor:
            for rows in _chunks(counts):
                totals.update(_upsert_counts(cursor, rows))
            for crows in _chunks(challenges):
                replays += _insert_challenges(cursor, crows)
        return totals, replays

    def _forget(self, now: float) -> None:
        """Drop keys whose window is over, and keys seen once (most ID numbers and phones): if one comes back,
        the next flush tells its total again. Caller holds the lock."""
        stale = [key for key, c in self._counts.items()
                 if c.ends <= now or (not c.pending and not c.flushing and c.known < 2)]
        for key in stale:
            del self._counts[key]

    def reset(self) -> None:
        """Forget everything, unwritten (tests)."""
        with self._lock:
            self._counts.clear()
            self._challenges.clear()
            self._writing = set()
            self._last = time.monotonic()

    def pending(self) -> tuple[int, int]:
        """(keys with unwritten increments, unwritten challenges)."""
        with self._lock:
            return sum(1 for c in self._counts.values() if c.pending), len(self._challenges)


_instance = WriteBehind()


def write_behind() -> WriteBehind:
    """This process's buffer."""
    return _instance
