"""The SQLite writers' turn (``core.locking._WriteQueue``) when another holder does not give it back: a writer
goes on without it after ``TURN_TIMEOUT``, and the wait it leaves behind never keeps the lock idle. ``flock``
locks belong to an open file, so a second ``open`` in this process stands for another process's writer
(tests/firstcome/test_sqlite_processes.py does the same with real processes and claims)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator

import pytest

from allot.core import locking


@contextlib.contextmanager
def _held(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o660)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _free(path: str) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o660)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _settles(check, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


@pytest.fixture
def path(tmp_path, monkeypatch) -> str:
    monkeypatch.setattr(locking, "TURN_TIMEOUT", 0.3)
    return str(tmp_path / "db.sqlite3.allot-write.lock")


def test_a_free_turn_is_taken_at_once_and_given_back(path):
    queue = locking._WriteQueue(path)
    started = time.monotonic()
    with queue.turn():
        assert time.monotonic() - started < 0.1
        assert not _free(path)
    assert _free(path)


def test_a_turn_held_elsewhere_is_waited_for_then_gone_without_and_the_lock_let_go_once_got(path, caplog):
    # given: the turn held elsewhere
    queue = locking._WriteQueue(path)
    with _held(path):
        # when: a writer asks for it
        started = time.monotonic()
        with queue.turn():
            waited = time.monotonic() - started
        # then: it went on after the timeout, and said so
        assert 0.25 < waited < 1.5
        assert "writing without it" in caplog.text
        assert queue.waiter is not None    # still waiting for the lock

    # and once the holder lets go, the wait left behind gets the lock and lets it go: nobody holds it idle
    assert _settles(lambda: _free(path))
    with queue.turn():     # the next turn finds the wait over and takes the lock itself
        assert not _free(path)
    assert queue.waiter is None and _free(path)


def test_a_turn_while_the_wait_left_behind_is_on_takes_that_wait_over(path):
    # given: a writer gone on without its turn; the holder still holds it
    queue = locking._WriteQueue(path)
    release = threading.Event()

    def hold() -> None:
        with _held(path):
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert _settles(lambda: not _free(path))
    with queue.turn():
        pass
    first = queue.waiter
    assert first is not None

    # when: the next writer asks while that wait is on, and the holder lets go during its wait
    threading.Timer(0.1, release.set).start()
    started = time.monotonic()
    with queue.turn():
        # then: it was given the turn by the same wait (no second one), as soon as the holder let go
        assert time.monotonic() - started < 0.25
        assert queue.waiter is None and first.got.is_set() and not first.abandoned
        assert not _free(path)
    holder.join(5)
    assert _free(path)
