"""First-come claims from several OS processes (granian workers) on one SQLite file: each process's group-commit
writer (allot/firstcome/writer.py) takes its turn at SQLite's write lock through ``core.locking.sqlite_write_queue``,
an ``flock`` on ``<database>.allot-write.lock``, so that a waiting process wakes when the other one is done instead
of sleeping in SQLite's busy handler (steps of 1, 2, 5 … 100 ms).

The processes are spawned (no fork of the test process's threads and connections); each sets Django up on a
SQLite file in ``tmp_path`` (WAL, ``BEGIN IMMEDIATE``, as deployed) that a first process has migrated. The test
process itself holds the lock file where a test needs a writer to wait. Nothing here imports Django at module
level: the spawned children import this module before they have set Django up."""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing as mp
import os
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

QUOTA = 15
PEOPLE = 40
THREADS = 8
LOCK_SUFFIX = ".allot-write.lock"   # core.locking.WRITE_LOCK_SUFFIX, spelled out: the file is the contract

_ctx = mp.get_context("spawn")


# --- in the children --------------------------------------------------------------------------------------

def _django(db: str) -> None:
    os.environ.pop("ALLOT_TEST_ON_POSTGRES", None)     # these are SQLite processes whatever the pass
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()


def _prepare(db: str, quota: int) -> None:
    """Migrate the file and open a campaign with today's quota row (as the worker's days_prepare does)."""
    _django(db)
    from django.core.management import call_command
    from django.db import connections

    from allot.firstcome.selectors import window
    from allot.firstcome.services import quota_get_or_create
    from tests.firstcome.hangzhou import build_hangzhou

    call_command("migrate", verbosity=0)
    campaign = build_hangzhou(quota=quota)
    quota_get_or_create(campaign=campaign, day=window(campaign).day, scope_key="city")
    connections.close_all()


def _claim(campaign: Any, n: int) -> str:
    from allot.core.errors import DomainError
    from allot.firstcome.services import claim_create
    from tests.firstcome.hangzhou import claim_request

    try:
        claim_create(campaign=campaign, request=claim_request(n), list_ids=())
    except DomainError as exc:
        return exc.code
    except Exception as exc:  # noqa: BLE001 - any other failure is an outcome the test must see
        return f"error:{type(exc).__name__}: {exc}"
    return "ok"


def _claimant(db: str, people: list[int], queued: Any, results: Any) -> None:
    """``THREADS`` threads claim for ``people``; reports on ``queued`` once every thread's first claim has reached
    the writer (taken or queued), then the outcomes and the writer's counts on ``results``."""
    _django(db)
    from django.db import connections

    from allot.campaigns.models import Campaign
    from allot.firstcome import services
    from tests.firstcome.hangzhou import SLUG

    campaign = Campaign.objects.get(slug=SLUG)
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()

    def claims(mine: list[int]) -> None:
        try:
            for n in mine:
                result = _claim(campaign, n)
                with lock:
                    outcomes.append((n, result))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claims, args=(people[k::THREADS],)) for k in range(THREADS)]
    for t in threads:
        t.start()
    w = services._claim_writer
    deadline = time.monotonic() + 30
    while w.jobs + len(w._queue) < THREADS and time.monotonic() < deadline:
        time.sleep(0.002)
    queued.put(os.getpid())
    for t in threads:
        t.join(60)
    w.stop()
    results.put((outcomes, w.batches, w.jobs))


def _timed_claims(db: str, rounds: int, go: Any, queued: Any, done: Any) -> None:
    """One claim per round, each made when told on ``go``, reported on ``queued`` once it has reached the writer
    (taken or queued) and on ``done`` once it has returned, with the monotonic time (the machine's clock, the
    same in every process)."""
    _django(db)
    from allot.campaigns.models import Campaign
    from allot.firstcome import services
    from tests.firstcome.hangzhou import SLUG

    campaign = Campaign.objects.get(slug=SLUG)
    w = services._claim_writer
    for n in range(1, rounds + 1):
        go.get(timeout=60)
        out: list[str] = []
        t = threading.Thread(target=lambda n=n, out=out: out.append(_claim(campaign, n)))
        t.start()
        while w.jobs + len(w._queue) < n:
            time.sleep(0.001)
        queued.put(n)
        t.join(30)
        done.put((time.monotonic(), out[0] if out else "no answer"))
    w.stop()


def _claims_past_a_stuck_turn(db: str, timeout: float, go: Any, done: Any) -> None:
    """With ``TURN_TIMEOUT`` at ``timeout``: a claim for each person sent on ``go`` (None: stop), each reported on
    ``done`` with the monotonic times it was made and answered, and its outcome."""
    _django(db)
    from allot.campaigns.models import Campaign
    from allot.core import locking
    from allot.firstcome import services
    from tests.firstcome.hangzhou import SLUG

    locking.TURN_TIMEOUT = timeout
    campaign = Campaign.objects.get(slug=SLUG)
    while (n := go.get(timeout=60)) is not None:
        made = time.monotonic()
        outcome = _claim(campaign, n)
        done.put((made, time.monotonic(), outcome))
    services._claim_writer.stop()


def _threads_take_turns(db: str, results: Any) -> None:
    _django(db)
    from allot.core.locking import sqlite_write_queue

    times: dict[str, float] = {}
    held = threading.Event()

    def first() -> None:
        with sqlite_write_queue():
            held.set()
            time.sleep(0.2)
            times["first_leaves"] = time.monotonic()

    def second() -> None:
        held.wait()
        with sqlite_write_queue():
            times["second_enters"] = time.monotonic()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    results.put(times)


def _forked_child_turn(db: str, results: Any) -> None:
    _django(db)
    from allot.core.locking import sqlite_write_queue

    fork = mp.get_context("fork")
    entered = fork.Queue()

    def child() -> None:
        with sqlite_write_queue():
            entered.put(time.monotonic())

    with sqlite_write_queue():    # held across the fork: the child inherits the open lock file
        p = fork.Process(target=child)
        p.start()
        time.sleep(0.2)
        released = time.monotonic()
    try:
        child_entered: float | None = entered.get(timeout=10)
    except Exception:  # noqa: BLE001 - queue.Empty: the child never got its turn
        child_entered = None
    p.join(5)
    if p.is_alive():
        p.kill()
    results.put((released, child_entered))


# --- in the test process ------------------------------------------------------------------------------------

def _run(target: Callable[..., None], *args: Any) -> None:
    p = _ctx.Process(target=target, args=args)
    p.start()
    p.join(120)
    assert p.exitcode == 0, f"{target.__name__} exited with {p.exitcode}"


@pytest.fixture
def sqlite_file(tmp_path) -> str:
    path = str(tmp_path / "allot.sqlite3")
    _run(_prepare, path, QUOTA)
    return path


@contextlib.contextmanager
def _turn_held(db: str) -> Iterator[None]:
    """Hold the writers' turn as another process's writer would."""
    fd = os.open(db + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o660)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)    # closing the last descriptor releases the flock


def _read(db: str, sql: str) -> list[tuple[Any, ...]]:
    """What the file holds, read with the standard library (the test process's Django is on its own database)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def test_two_processes_claiming_at_once_give_exactly_the_quota_one_claim_per_person_in_batches(sqlite_file):
    # given: two processes that each claim for the same 40 people, in the same order, against 15 units, their
    # first claims queued up while the turn is held elsewhere
    queued, results = _ctx.Queue(), _ctx.Queue()
    people = list(range(1, PEOPLE + 1))
    procs = [_ctx.Process(target=_claimant, args=(sqlite_file, people, queued, results)) for _ in range(2)]

    # when
    with _turn_held(sqlite_file):
        for p in procs:
            p.start()
        for _ in procs:
            queued.get(timeout=60)
    reports = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)

    # then: every process finished; exactly the quota was accepted, each person at most once
    assert [p.exitcode for p in procs] == [0, 0]
    outcomes = [o for report in reports for o in report[0]]
    assert len(outcomes) == 2 * PEOPLE
    accepted = [n for n, result in outcomes if result == "ok"]
    assert len(accepted) == QUOTA
    assert len(set(accepted)) == QUOTA
    # (both processes' first claims are for people 1–8 while units are left: one of each pair is refused)
    assert {result for _n, result in outcomes} == {"ok", "sold_out", "already_claimed"}
    assert _read(sqlite_file, "SELECT COUNT(*), COUNT(DISTINCT person_id) FROM firstcome_claim") == [(QUOTA, QUOTA)]
    assert _read(sqlite_file, "SELECT taken, units FROM firstcome_quota") == [(QUOTA, QUOTA)]
    assert _read(sqlite_file, "SELECT COUNT(*) FROM core_auditlog "
                              "WHERE action = 'allot.firstcome.claim_accepted'") == [(QUOTA,)]
    # and each process wrote its claims in batches: fewer transactions than claims (once a process has seen
    # "sold out", its later claims are refused before they reach the writer)
    for _outcomes, batches, jobs in reports:
        assert jobs >= THREADS
        assert batches < jobs


def test_a_writer_waiting_for_its_turn_goes_on_within_milliseconds_of_its_release(sqlite_file):
    # given: a process whose claim has reached its writer while another process holds the turn
    rounds, hold = 5, 0.2
    go, queued, done = _ctx.Queue(), _ctx.Queue(), _ctx.Queue()
    p = _ctx.Process(target=_timed_claims, args=(sqlite_file, rounds, go, queued, done))
    p.start()
    delays, outcomes = [], []
    for _ in range(rounds):
        with _turn_held(sqlite_file):
            go.put(True)
            queued.get(timeout=60)
            time.sleep(hold)

            # then: the claim waits as long as the turn is held …
            assert done.empty(), "the claim was written while another process held the turn"
            released = time.monotonic()

        # … and is written as soon as it is released
        answered, outcome = done.get(timeout=30)
        delays.append(answered - released)
        outcomes.append(outcome)
    p.join(30)

    assert p.exitcode == 0
    assert outcomes == ["ok"] * rounds
    # the whole claim — wake-up, the batch transaction, the answer — in a few ms; SQLite's busy handler, 200 ms
    # into a wait, sleeps in steps of 50 then 100 ms: it would go on up to that late, half of it on average
    assert statistics.median(delays) < 0.020, delays


def test_threads_of_one_process_take_turns_too(sqlite_file):
    # given: flock alone lets every thread of a process in once one has the lock (they share the open file)
    results = _ctx.Queue()

    # when
    _run(_threads_take_turns, sqlite_file, results)
    times = results.get(timeout=10)

    # then
    assert times["second_enters"] >= times["first_leaves"]


def test_a_forked_child_waits_for_its_parents_turn(sqlite_file):
    # given: a process forked while its parent holds the turn (its inherited descriptor shares the parent's lock)
    results = _ctx.Queue()

    # when
    _run(_forked_child_turn, sqlite_file, results)
    released, child_entered = results.get(timeout=10)

    # then: the child got a turn of its own, once the parent's was over
    assert child_entered is not None, "the forked child never got its turn"
    assert child_entered >= released


def test_a_writer_whose_turn_another_process_holds_and_does_not_give_back_goes_on_without_it(sqlite_file):
    # given: a process whose writers wait at most 1 s for their turn, its first claim written (Django set up, the
    # writer running); then another process (here, the test) takes the turn and holds it without writing, as one
    # stopped (SIGSTOP, a debugger) or stuck would
    go, done = _ctx.Queue(), _ctx.Queue()
    p = _ctx.Process(target=_claims_past_a_stuck_turn, args=(sqlite_file, 1.0, go, done))
    p.start()
    try:
        go.put(1)
        assert done.get(timeout=60)[2] == "ok"
        with _turn_held(sqlite_file):
            # when: a claim, while the turn is held
            go.put(2)
            made, answered, outcome = done.get(timeout=15)

            # then: it was written after about the 1 s, not when the turn came back (before this, it waited as
            # long as the turn was held, with no end); SQLite's own lock was free, so it was accepted
            assert outcome == "ok"
            assert 0.9 < answered - made < 3.5, answered - made

            # and a second claim meanwhile waits for the same turn as the first (no second wait for the lock
            # begins while one is on), and goes on after the timeout too
            go.put(3)
            made, answered, outcome = done.get(timeout=15)
            assert outcome == "ok" and 0.9 < answered - made < 3.5, (outcome, answered - made)
            time.sleep(0.5)

        # when the turn is given back: the next claim takes its turn at once (the waiter the writer left behind
        # got the lock and is adopted, or let it go)
        go.put(4)
        made, answered, outcome = done.get(timeout=15)
        assert outcome == "ok" and answered - made < 0.8, (outcome, answered - made)
    finally:
        go.put(None)
        p.join(30)
    assert p.exitcode == 0

    # and nobody holds the turn once that process is done with it
    fd = os.open(sqlite_file + LOCK_SUFFIX, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert _read(sqlite_file, "SELECT COUNT(*) FROM firstcome_claim") == [(4,)]
