"""Locking helpers (pretix ``base/services/locking.py`` idea): refuse to run outside a transaction, lock rows
in a fixed order, a database lease so that a scheduled job runs once even with several workers, and a queue in
front of SQLite's write lock for the hot writers of several processes."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, transaction
from django.utils import timezone

from allot.core.models import JobLease

M = TypeVar("M", bound=models.Model)
logger = logging.getLogger("allot.core")


class LockOutsideTransaction(RuntimeError):
    pass


def ensure_in_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise LockOutsideTransaction("row locks must be taken inside transaction.atomic()")


def lock_rows(queryset: models.QuerySet[M]) -> list[M]:
    """Lock the rows of ``queryset`` in primary-key order (no deadlocks between two lockers)."""
    ensure_in_transaction()
    return list(queryset.order_by("pk").select_for_update())


def lock_one(model: type[M], pk: object) -> M:
    ensure_in_transaction()
    return model._default_manager.select_for_update().get(pk=pk)


def lock_shared(model: type[models.Model], pk: object) -> None:
    """Take a shared row lock (PostgreSQL ``FOR SHARE``): many holders at once, but an exclusive
    ``select_for_update`` on the same row waits for all of them. On SQLite, whose writers are serialised by
    the IMMEDIATE transaction anyway, this is a no-op."""
    ensure_in_transaction()
    conn = transaction.get_connection()
    if conn.vendor != "postgresql":
        return
    table = conn.ops.quote_name(model._meta.db_table)
    with conn.cursor() as cur:
        cur.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR SHARE", [pk])  # noqa: S608 - table name from model


def lease_acquire(*, name: str, holder: str, seconds: int, now: dt.datetime | None = None) -> bool:
    """Take the lease ``name`` for ``seconds`` if nobody holds an unexpired one. Atomic on SQLite and
    PostgreSQL: the conditional UPDATE and the INSERT are each a single statement, the primary key the
    backstop."""
    now = now or timezone.now()
    until = now + dt.timedelta(seconds=seconds)
    taken = JobLease.objects.filter(name=name).filter(
        models.Q(expires_at__lte=now) | models.Q(holder=holder)
    ).update(holder=holder, expires_at=until, last_run_at=now)
    if taken:
        return True
    if JobLease.objects.filter(name=name).exists():
        return False
    try:
        with transaction.atomic():
            JobLease.objects.create(name=name, holder=holder, expires_at=until, last_run_at=now)
    except IntegrityError:
        return False
    return True


def lease_release(*, name: str, holder: str) -> None:
    JobLease.objects.filter(name=name, holder=holder).delete()


def chunked(items: Iterable[M], size: int) -> Iterable[list[M]]:
    batch: list[M] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- SQLite: a queue in front of the write lock, shared by the processes that write one file ---------------

WRITE_LOCK_SUFFIX = ".allot-write.lock"


#: How long a writer waits for its turn before it goes on without it (to SQLite's own lock and busy handler). A
#: turn is held for one write transaction, milliseconds; a holder stopped or stuck (a debugger, SIGSTOP, a hung
#: thread) held the others' writers for as long as it lasted, with no end (ADR 0009, twelfth-session amendment).
TURN_TIMEOUT = 5.0


class _Waiter:
    """A thread that waits in a blocking ``flock`` for the queue's lock, so that the writer who asked can stop
    waiting (``flock`` has no timeout). If that writer went on without the turn (``wait`` timed out), the lock,
    once got, is released at once, unless a later turn of the process has come back for it (``adopt``)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.got = threading.Event()        # set once the blocking flock has returned
        self.error: OSError | None = None
        self.abandoned = False
        self.mutex = threading.Lock()
        threading.Thread(target=self._wait, name="sqlite-write-turn", daemon=True).start()

    def _wait(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            self.error = exc
        with self.mutex:
            if self.abandoned and self.error is None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self.fd, fcntl.LOCK_UN)
            self.got.set()

    def wait(self, timeout: float) -> bool:
        """True once the lock is this process's (or the wait failed: ``error``); False after ``timeout``, the
        waiter then abandoned."""
        if self.got.wait(timeout):
            return True
        with self.mutex:
            if self.got.is_set():   # got in the meantime
                return True
            self.abandoned = True
            return False

    def adopt(self) -> bool:
        """A later turn takes over this wait: False if the waiter has already got and released the lock."""
        with self.mutex:
            if self.got.is_set():
                return not self.abandoned
            self.abandoned = False
            return True


class _WriteQueue:
    """An exclusive ``flock`` on one lock file, plus a thread lock: ``flock`` excludes other processes only (two
    threads locking through one open file share the lock), and the file is opened once per process. Where the
    file cannot be opened or locked (a read-only directory, a file system without ``flock``) it logs once and
    lets writers through: it is a queue, never a guard, and SQLite's own lock still excludes them. A writer that
    waits ``TURN_TIMEOUT`` seconds goes on without its turn, and says so in the log."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.threads = threading.Lock()
        self.fd: int | None = None
        self.unusable = False
        self.waiter: _Waiter | None = None    # a wait for the lock that a writer gave up on and may still get it

    def _give_up(self, exc: OSError) -> None:
        self.unusable = True
        if self.fd is not None:
            os.close(self.fd)    # also drops the lock, if held
            self.fd = None
        logger.warning("no SQLite write queue at %s (%s): writers wait in SQLite's busy handler", self.path, exc)

    def _lock(self) -> int | None:
        """This process's turn (its descriptor), or None to go on without one. Called holding ``threads``."""
        if self.unusable:
            return None
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
            waiter = self.waiter
            if waiter is not None and not waiter.adopt():
                waiter = self.waiter = None    # it got the lock after all and let it go
            if waiter is None:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return self.fd
                except BlockingIOError:
                    waiter = self.waiter = _Waiter(self.fd)
            # (while a waiter may still get the lock, nothing else here locks this descriptor: its flock would
            # succeed alongside the waiter's, and the waiter's release then end this turn's)
            if not waiter.wait(TURN_TIMEOUT):
                logger.warning("waited %.1f s for the SQLite write turn at %s: writing without it (another "
                               "process holds it and does not go on)", TURN_TIMEOUT, self.path)
                return None
            self.waiter = None
            if waiter.error is not None:
                raise waiter.error
        except OSError as exc:
            self._give_up(exc)
            return None
        return self.fd

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        with self.threads:
            fd = self._lock()
            try:
                yield
            finally:
                if fd is not None and fd == self.fd:   # (not in a forked child: its copy is closed)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                    except OSError as exc:   # the block's work is done: never report it as failed for this
                        self._give_up(exc)


_queues: dict[str, _WriteQueue] = {}
_queues_lock = threading.Lock()


def _queues_forget() -> None:
    """In a forked child: the inherited descriptors share the parent's open file, hence its lock; drop them (the
    parent keeps its lock) and open afresh when needed."""
    global _queues_lock
    for queue in _queues.values():
        if queue.fd is not None:
            os.close(queue.fd)
        queue.fd, queue.unusable = None, True   # a turn the forking thread was in ends without an unlock
    _queues.clear()
    _queues_lock = threading.Lock()


os.register_at_fork(after_in_child=_queues_forget)


def _sqlite_file(using: str) -> str | None:
    conn = connections[using]
    if conn.vendor != "sqlite" or conn.in_atomic_block:
        return None
    name = str(conn.settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):   # in memory (tests), or a URI we do not parse
        return None
    return os.path.abspath(name)


@contextlib.contextmanager
def sqlite_write_queue(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Wait for this process's and then every process's turn to write the SQLite file of ``using``, and hold it
    for the block, which should be one write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``/``ROLLBACK``).

    Why: a ``BEGIN IMMEDIATE`` that meets another process's write lock waits in SQLite's busy handler, which
    sleeps 1, 2, 5, 10, 15, 20, 25 … 100 ms between tries instead of waking when the lock is freed. Measured with
    two processes writing batches in a loop: their waits came in exactly those steps, and two processes wrote no
    more than one. A waiter here wakes the moment the holder leaves: an exclusive ``flock`` on
    ``<database>.allot-write.lock``, next to the database file.

    Only a queue, never a guard: writers that do not use it (pages, admin, the worker) take SQLite's lock as
    before, and the database's constraints decide as before. A holder that meets one of them waits in SQLite's
    busy handler (up to its timeout), and the queue behind it waits too. A process stopped while holding the turn
    stops the others' queued writers for ``TURN_TIMEOUT`` seconds; they then go on to SQLite's lock without it
    (and SQLite's busy handler, if the stopped process holds that lock too).

    A no-op on other databases, in memory (tests), and inside an atomic block: that transaction may already hold
    SQLite's lock, and waiting for the turn while a holder of the turn waits for that lock would stall both until
    SQLite's timeout."""
    path = _sqlite_file(using)
    if path is None:
        yield
        return
    path += WRITE_LOCK_SUFFIX
    queue = _queues.get(path)
    if queue is None:
        with _queues_lock:
            queue = _queues.setdefault(path, _WriteQueue(path))
    with queue.turn():
        yield
