"""The virtual waiting room (``allot.core.waitroom``): signed tickets, first in first out, one admission per ticket,
the capacity left unused by absent ticket holders given to newcomers, in one process and shared through Redis."""

from __future__ import annotations

import collections
import threading
import time
import uuid

import pytest
import redis

from allot.core import waitroom
from allot.core.waitroom import Entry, Waitroom, token_read, token_sign


@pytest.fixture(autouse=True)
def _waiting_room_on(settings):
    """The waiting room is off by default (docs/adr/0008-waiting-room.md, amendment); these tests switch it on."""
    settings.ALLOT_WAITROOM = True


REDIS_TEST_URL = "redis://127.0.0.1:6379/13"   # a Redis database number only tests use; keys under a fresh prefix
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"       # nothing listens there: a real refusal
T0 = 1_900_000_000.0                            # a fixed clock (Unix seconds): the queue moves only when we say
SCOPE = "test"


class Pool:
    """Slots of an admission point: at most ``limit`` held at once; remembers the most ever held."""

    def __init__(self, limit: int, held: int = 0) -> None:
        self.limit, self.held, self.peak = limit, held, held
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.held >= self.limit:
                return False
            self.held += 1
            self.peak = max(self.peak, self.held)
            return True

    def give(self) -> None:
        with self.lock:
            self.held -= 1


def enter(room: Waitroom, pool: Pool, token: str | None = None, *, at: float = T0, rate: float = 10.0,
          release: bool = True) -> Entry:
    entry = room.enter(token=token, take=pool.take, give=pool.give, rate=rate, now=at)
    if entry.admitted and release:
        pool.give()   # the request is served at once
    return entry


def seq_of(entry: Entry, at: float = T0) -> int:
    ticket = token_read(entry.token, scope=SCOPE, now=at)
    assert ticket is not None
    return ticket.seq


@pytest.fixture
def redis_prefix(settings):
    client = redis.Redis.from_url(REDIS_TEST_URL)
    prefix = f"allot-test:{uuid.uuid4().hex}:wr"
    settings.REDIS_URL = REDIS_TEST_URL
    settings.ALLOT_WAITROOM_SHARED = True
    settings.ALLOT_WAITROOM_PREFIX = prefix
    yield client, prefix
    keys = client.keys(f"{prefix}:*")
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["in-process", "redis"])
def backend(request, settings):
    """Every rule below holds in both backends."""
    if request.param == "redis":
        request.getfixturevalue("redis_prefix")
    else:
        settings.REDIS_URL = ""
    return request.param


# --- tokens ----------------------------------------------------------------------------------------------

def _token(**over) -> str:
    fields = {"scope": SCOPE, "epoch": "00112233aabbccdd", "seq": 42, "issued": int(T0), "not_before": int(T0) + 3,
              "expires": int(T0) + 300}
    fields.update(over)
    return token_sign(**fields)


def test_a_token_reads_back_as_its_ticket():
    ticket = token_read(_token(), scope=SCOPE, now=T0)

    assert ticket is not None
    assert (ticket.epoch, ticket.seq, ticket.issued, ticket.not_before, ticket.expires) == (
        "00112233aabbccdd", 42, int(T0), int(T0) + 3, int(T0) + 300)
    assert len(_token()) == waitroom.TOKEN_CHARS and _token().isascii() and "=" not in _token()


def test_a_token_changed_in_any_character_is_no_ticket():
    token = _token()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    changed = [token[:i] + alphabet[(alphabet.index(c) + 1) % 64] + token[i + 1:] for i, c in enumerate(token)]

    assert [i for i, t in enumerate(changed) if token_read(t, scope=SCOPE, now=T0) is not None] == []


def test_a_token_of_another_scope_or_another_secret_is_no_ticket(settings):
    token = _token()

    assert token_read(token, scope="other", now=T0) is None
    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    assert token_read(token, scope=SCOPE, now=T0) is None


def test_a_token_signed_with_a_previous_secret_still_reads(settings):
    token = _token()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the-new-secret-key-" + "z" * 40

    assert token_read(token, scope=SCOPE, now=T0) is not None


def test_an_expired_token_is_no_ticket():
    token = _token(expires=int(T0) + 10)

    assert token_read(token, scope=SCOPE, now=T0 + 10) is not None
    assert token_read(token, scope=SCOPE, now=T0 + 11) is None


@pytest.mark.parametrize("junk", ["", "x", "A" * waitroom.TOKEN_CHARS, "é" * waitroom.TOKEN_CHARS,
                                  "=" * waitroom.TOKEN_CHARS, "\x00" * waitroom.TOKEN_CHARS])
def test_junk_is_no_ticket(junk):
    assert token_read(junk, scope=SCOPE, now=T0) is None


# --- the queue -------------------------------------------------------------------------------------------

def test_tickets_are_admitted_in_order_as_the_queue_moves(backend):
    # given: the slot is full; five requests get numbers 1..5
    room, pool = Waitroom(SCOPE), Pool(1, held=1)
    tokens = {}
    for _ in range(5):
        entry = enter(room, pool)
        tokens[seq_of(entry)] = entry.token
    pool.give()

    # when: every 0.1 s (10 per second) all the remaining holders come back, the last one first
    order = []
    for step in range(1, 6):
        at = T0 + step / 10 + 0.01
        for seq in sorted(tokens, reverse=True):
            entry = enter(room, pool, tokens[seq], at=at)
            if entry.admitted:
                order.append((step, seq))
                del tokens[seq]
            else:
                assert seq_of(entry, at) == seq   # the others keep their place
                tokens[seq] = entry.token

    # then
    assert sorted(tokens) == []
    assert order == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]


def test_positions_count_down_and_retry_after_is_the_estimated_wait(backend):
    room, pool = Waitroom(SCOPE), Pool(0)

    entries = [enter(room, pool) for _ in range(3)]
    later = enter(room, pool, entries[2].token, at=T0 + 0.15)   # 1.5 called at 10/s

    assert [e.position for e in entries] == [1, 2, 3]
    assert [e.retry_after for e in entries] == [1, 1, 1]     # 0.1-0.3 s, rounded up to the 1 s minimum
    assert (seq_of(later, T0 + 0.15), later.position) == (3, 2)


def test_the_wait_in_milliseconds_is_the_estimate_and_retry_after_its_whole_seconds(backend):
    room, pool = Waitroom(SCOPE), Pool(0)

    entries = [enter(room, pool, rate=100.0) for _ in range(250)]
    called = enter(room, pool, entries[0].token, at=T0 + 1.0, rate=100.0)   # called, the slots still full

    assert 10 <= entries[0].wait_ms <= 11                 # 1 ahead at 100/s: 10 ms, stretched by up to 10 %
    assert 2500 <= entries[249].wait_ms <= 2750 and entries[249].retry_after == 3
    assert (called.wait_ms, called.retry_after) == (int(waitroom.SOON * 1000), 1)


def test_retry_after_grows_with_the_position_and_is_clamped(backend, settings):
    settings.ALLOT_WAITROOM_RETRY_AFTER = (1, 30)
    room, pool = Waitroom(SCOPE), Pool(0)

    entries = [enter(room, pool, rate=10.0) for _ in range(400)]

    assert 10 <= entries[99].retry_after <= 12      # 100 ahead at 10/s: 10 s, jittered upwards by at most 20 %
    assert entries[399].retry_after == 30           # 40 s, clamped
    assert all(1 <= e.retry_after <= 30 for e in entries)


def test_a_newcomer_is_queued_behind_the_people_waiting_even_with_a_free_slot(backend):
    # given: three people wait; the slot frees up
    room, pool = Waitroom(SCOPE), Pool(1, held=1)
    waiting = [enter(room, pool) for _ in range(3)]
    pool.give()

    # when: a newcomer arrives before the first of them has been called
    newcomer = enter(room, pool, at=T0 + 0.05)

    # then
    assert not newcomer.admitted
    assert (seq_of(newcomer, T0 + 0.05), newcomer.position) == (4, 4)
    assert pool.held == 0
    assert [seq_of(e) for e in waiting] == [1, 2, 3]


def test_a_holder_whose_turn_came_while_the_slots_are_full_keeps_its_number(backend):
    # given: number 1 is called while the slot is still busy
    room, pool = Waitroom(SCOPE), Pool(1, held=1)
    first = enter(room, pool)
    enter(room, pool)    # number 2

    # when
    again = enter(room, pool, first.token, at=T0 + 1.15)
    pool.give()
    admitted = enter(room, pool, again.token, at=T0 + 2.2)

    # then: same number, told to come straight back, and admitted then
    assert not again.admitted
    assert (seq_of(again, T0 + 1.15), again.position, again.retry_after) == (1, 1, 1)
    assert again.token != first.token
    assert admitted.admitted


def test_a_holder_who_comes_back_early_keeps_its_number(backend):
    room, pool = Waitroom(SCOPE), Pool(1, held=1)
    entries = [enter(room, pool) for _ in range(5)]
    pool.give()

    early = enter(room, pool, entries[4].token, at=T0 + 0.15)

    assert not early.admitted
    assert (seq_of(early, T0 + 0.15), early.position) == (5, 4)


def test_a_ticket_admits_once(backend):
    room, pool = Waitroom(SCOPE), Pool(1, held=1)
    entries = [enter(room, pool) for _ in range(3)]
    pool.give()
    assert enter(room, pool, entries[0].token, at=T0 + 0.11).admitted

    copy = enter(room, pool, entries[0].token, at=T0 + 0.12)   # the same token again (a copy on another client)

    assert not copy.admitted
    assert seq_of(copy, T0 + 0.12) == 4     # a newcomer at the back


def test_a_ticket_of_an_earlier_queue_is_a_newcomer(settings):
    """A process restarted (in-process backend): its queue starts again with another epoch."""
    settings.REDIS_URL = ""
    before, pool = Waitroom(SCOPE), Pool(0)
    old = enter(before, pool)
    after = Waitroom(SCOPE)
    enter(after, pool)
    enter(after, pool)

    entry = enter(after, pool, old.token, at=T0 + 0.01)

    assert (seq_of(old), seq_of(entry, T0 + 0.01)) == (1, 3)


def test_capacity_nobody_comes_back_for_goes_to_newcomers(backend):
    # given: fifty people were given numbers and none of them ever comes back (a client that drops tokens)
    room, pool = Waitroom(SCOPE), Pool(1, held=1)
    for _ in range(50):
        enter(room, pool)
    pool.give()

    # when: newcomers arrive two seconds later, the queue still far from called through (20 of 50)
    newcomers = [enter(room, pool, at=T0 + 2.0 + i / 100) for i in range(3)]

    # then: the slot does not stand idle
    assert newcomers[0].admitted


def test_while_holders_come_back_newcomers_get_no_capacity(backend):
    # given: numbers 1..40; every holder comes back when called (each 0.1 s at 10/s)
    room, pool = Waitroom(SCOPE), Pool(1, held=1)
    tokens = {seq_of(e): e.token for e in (enter(room, pool) for _ in range(40))}
    pool.give()
    newcomers = []
    for step in range(1, 31):
        at = T0 + step / 10 + 0.005
        entry = enter(room, pool, tokens.pop(step), at=at)
        assert entry.admitted
        newcomers.append(enter(room, pool, at=at + 0.001))   # and a newcomer right behind each

    # then: every newcomer was queued behind the people waiting
    assert not any(n.admitted for n in newcomers)
    assert [seq_of(n, T0 + 5) for n in newcomers] == list(range(41, 71))


def test_called_holders_who_find_the_slots_full_leave_no_capacity_to_newcomers(backend):
    # given: numbers 1..40 while a long request holds the only slot; every holder comes back when called and
    # finds the slot still busy
    room, pool = Waitroom(SCOPE), Pool(1, held=1)
    tokens = {seq_of(e): e.token for e in (enter(room, pool) for _ in range(40))}
    for step in range(1, 21):
        at = T0 + step / 10 + 0.005
        assert not enter(room, pool, tokens[step], at=at).admitted

    # when: the slot frees up and a newcomer is first to see it
    pool.give()
    newcomer = enter(room, pool, at=T0 + 2.01)

    # then: the capacity was (to be) used by the people in line
    assert not newcomer.admitted and seq_of(newcomer, T0 + 2.01) == 41


def test_without_anyone_waiting_a_newcomer_is_admitted_at_once(backend):
    room, pool = Waitroom(SCOPE), Pool(2)

    entries = [enter(room, pool, release=False) for _ in range(3)]

    assert [e.admitted for e in entries] == [True, True, False]
    assert entries[2].position == 1


# --- threads ---------------------------------------------------------------------------------------------

def _surge(rooms: list[Waitroom], pools: list[Pool], threads: int) -> list[Entry]:
    """``threads`` requests at once, spread over the rooms (processes); an admitted one holds its slot 5 ms."""
    answers: list[Entry] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads)
    lock = threading.Lock()

    def request(i: int) -> None:
        room, pool = rooms[i % len(rooms)], pools[i % len(pools)]
        try:
            start.wait()
            entry = room.enter(token=None, take=pool.take, give=pool.give, rate=10.0, now=T0)
            if entry.admitted:
                time.sleep(0.005)
                pool.give()
            with lock:
                answers.append(entry)
        except BaseException as exc:   # noqa: BLE001  (reported below: a thread must not die silently)
            errors.append(exc)

    workers = [threading.Thread(target=request, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert len(answers) == threads
    return answers


def _assert_tickets_are_a_line(answers: list[Entry]) -> None:
    queued = [a for a in answers if not a.admitted]
    assert all(a.token and 1 <= a.retry_after <= 30 for a in queued)
    seqs = sorted(seq_of(a) for a in queued)
    assert seqs == list(range(1, len(queued) + 1))               # unique, none skipped
    assert sorted(a.position for a in queued) == seqs             # the clock stands still: position = number


def test_two_hundred_requests_at_once_against_four_slots(settings):
    settings.REDIS_URL = ""
    room, pool = Waitroom(SCOPE), Pool(4)

    answers = _surge([room], [pool], 200)

    assert pool.peak <= 4 and pool.held == 0
    assert 1 <= sum(a.admitted for a in answers) < 200
    _assert_tickets_are_a_line(answers)


def test_with_redis_processes_share_one_line(redis_prefix):
    # given: two processes (two rooms of the same scope, each with its own slots)
    a, b = Waitroom(SCOPE), Waitroom(SCOPE)
    slots_a, slots_b = Pool(1, held=1), Pool(1, held=1)
    first, second = enter(a, slots_a), enter(b, slots_b)
    slots_b.give()

    # when: number 1, given by process a, comes back to process b once called; number 2 comes back too early
    at = T0 + 1 / 20 + 0.01      # both processes report 10/s: the line moves at 20/s
    early = enter(b, slots_b, second.token, at=at)
    admitted = enter(b, slots_b, first.token, at=at)

    # then
    assert (seq_of(first), seq_of(second)) == (1, 2)
    assert not early.admitted and seq_of(early, at) == 2
    assert admitted.admitted


def test_with_redis_two_hundred_requests_at_once_from_two_processes(redis_prefix):
    rooms, pools = [Waitroom(SCOPE), Waitroom(SCOPE)], [Pool(4), Pool(4)]

    answers = _surge(rooms, pools, 200)

    assert all(p.peak <= 4 and p.held == 0 for p in pools)
    _assert_tickets_are_a_line(answers)


def test_with_redis_the_queue_keys_expire_after_the_last_token(redis_prefix, settings):
    client, _prefix = redis_prefix
    settings.ALLOT_WAITROOM_TOKEN_SECONDS = 100
    room, pool = Waitroom(SCOPE), Pool(1, held=1)
    entries = [enter(room, pool) for _ in range(2)]
    pool.give()
    enter(room, pool, entries[0].token, at=T0 + 1)     # admitted: number 1 is spent

    state, spent, rates = waitroom.redis_keys(SCOPE)

    assert all(0 < client.ttl(k) <= 160 for k in (state, spent))
    assert 0 < client.ttl(rates) <= 60
    assert client.getbit(spent, 1) == 1 and client.getbit(spent, 2) == 0


def test_redis_down_falls_back_to_the_plain_cap_and_never_admits_beyond_it(settings):
    settings.REDIS_URL = CLOSED_PORT_URL
    settings.ALLOT_WAITROOM_SHARED = True
    waitroom._down_until.clear()
    room, pool = Waitroom(SCOPE), Pool(4)

    answers = _surge([room], [pool], 200)

    assert pool.peak <= 4 and pool.held == 0
    refused = [a for a in answers if not a.admitted]
    assert refused and all(a.token == "" and a.position == 0 and 2 <= a.retry_after <= 6 for a in refused)
    waitroom._down_until.clear()


def test_redis_down_with_the_slots_full_is_a_plain_busy_answer(settings):
    settings.REDIS_URL = CLOSED_PORT_URL
    settings.ALLOT_WAITROOM_SHARED = True
    waitroom._down_until.clear()
    room, pool = Waitroom(SCOPE), Pool(1, held=1)

    entry = room.enter(token=None, take=pool.take, give=pool.give, rate=10.0)

    assert (entry.admitted, entry.token) == (False, "")
    assert 2 <= entry.retry_after <= 6 and pool.held == 1
    waitroom._down_until.clear()


def test_with_several_processes_the_line_is_on_only_when_shared(settings):
    # one process (no REDIS_URL): its own line
    settings.REDIS_URL = ""
    assert waitroom.config().enabled and waitroom.config().redis_url == ""
    # several processes (REDIS_URL) without the shared line: no line, the plain busy answer
    settings.REDIS_URL = REDIS_TEST_URL
    settings.ALLOT_WAITROOM_SHARED = False
    assert not waitroom.config().enabled
    # with it: one line in Redis
    settings.ALLOT_WAITROOM_SHARED = True
    assert waitroom.config().enabled and waitroom.config().redis_url == REDIS_TEST_URL


def test_the_plain_busy_answer_spreads_retry_after_as_configured(settings):
    settings.ALLOT_ADMISSION_RETRY_AFTER = (7, 7)
    assert waitroom.plain_busy().retry_after == 7
    settings.ALLOT_ADMISSION_RETRY_AFTER = (2, 6)
    assert {waitroom.plain_busy().retry_after for _ in range(400)} == {2, 3, 4, 5, 6}


# --- the plain busy answer's spread -------------------------------------------------------------------------

def test_the_plain_busy_answer_books_no_second_past_the_budget(settings):
    # given: a budget of 100 returns a second per process, the default 2-6 s range, an empty book (conftest)
    settings.ALLOT_ADMISSION_BUSY_BUDGET = 100
    t = 5000.0

    # when: 100 refusals over one second, then 5,000 in the next instant
    calm = [waitroom.plain_busy(now=t + i / 100) for i in range(100)]
    crowd = [waitroom.plain_busy(now=t + 1.5) for _ in range(5000)]

    # then: the calm ones in the base range; no second gets more than 100 returns of both; the crowd fills the
    # earliest seconds with room, in order, none waiting longer than it must
    assert all(2 <= e.retry_after <= 6 and not e.admitted for e in calm)
    returns = collections.Counter([int(t + i / 100) + e.retry_after for i, e in enumerate(calm)]
                                  + [int(t + 1.5) + e.retry_after for e in crowd])
    assert max(returns.values()) == 100
    crowd_seconds = sorted({int(t + 1.5) + e.retry_after for e in crowd})
    assert crowd_seconds == list(range(int(t) + 3, int(t) + 3 + len(crowd_seconds)))   # from its own 2 s on
    assert all(returns[s] == 100 for s in crowd_seconds[:-1])
    assert len(crowd_seconds) == 51   # 5,100 returns at 100 a second from 5003 on: 51 seconds, the last 88


def test_past_the_longest_wait_the_returns_are_spread_unbooked_over_its_last_stretch(settings):
    settings.ALLOT_ADMISSION_BUSY_BUDGET = 10

    waits = [waitroom.plain_busy(now=6000.2).retry_after for _ in range(1000)]

    booked = waits[:590]   # 2..60 s: 59 seconds of 10
    assert collections.Counter(booked) == {w: 10 for w in range(2, 61)}
    assert all(6 <= w <= 60 for w in waits[590:])
    assert len(set(waits[590:])) > 20


def test_booked_seconds_are_forgotten_once_past(settings, monkeypatch):
    settings.ALLOT_ADMISSION_BUSY_BUDGET = 10
    book = waitroom.Returns()
    monkeypatch.setattr(waitroom, "_returns", book)
    for _ in range(300):
        waitroom.plain_busy(now=7000.0)

    later = waitroom.plain_busy(now=7070.5)   # after every booked second

    assert 2 <= later.retry_after <= 6
    assert list(book.booked) == [7070 + later.retry_after]


def test_a_crowd_told_busy_comes_back_at_the_budget_not_more(settings):
    """20,000 residents refused in the first second, each coming back when told and refused again: the returns a
    second stay at the budget. (A wait stretched in proportion to the refusal rate let them settle at
    sqrt(20,000 × 500 / 4) ≈ 1,600 a second: bench/README.md, eleventh session.)"""
    settings.ALLOT_ADMISSION_BUSY_BUDGET = 500
    due: collections.Counter[int] = collections.Counter({0: 20_000})   # second -> residents arriving in it
    arrivals = []
    for second in range(120):
        arriving = due.pop(second, 0)
        arrivals.append(arriving)
        for i in range(arriving):
            due[second + waitroom.plain_busy(now=10_000 + second + i / (arriving + 1)).retry_after] += 1

    assert max(arrivals[1:]) <= 500
    assert sum(arrivals[1:60]) >= 500 * 55   # and no second left empty while people wait
