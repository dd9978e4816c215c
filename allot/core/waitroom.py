"""A virtual waiting room: numbered, signed tickets for the requests an admission point cannot serve yet.

An admission point (``allot.core.admission``) has a fixed number of in-flight slots. Past them, a request used to
get a bare "try again in 1-3 s", so whoever retried at the right millisecond won. Here it gets a **ticket**
instead: a place in one first-in, first-out queue per admission point (``scope``), carried by the client as a
signed token and handed back on its next attempt.

Each queue keeps two counters: ``issued`` (the last sequence number handed out) and ``serving`` (how far the
queue has been called). ``serving`` advances lazily with time at the admission point's capacity — ``rate``
requests per second, computed by the caller as ``slots / mean time a request holds a slot`` (Little's law when
the slots are full) — and never beyond ``issued``. A ticket's turn has come when ``seq <= serving``; its
position is ``seq - serving``. The wait is the estimate ``position / rate``, stretched by up to ``JITTER``
(late is fine, early is a wasted trip): in milliseconds for clients that can use it (``wait_ms``), rounded up
and clamped for ``Retry-After`` (``ALLOT_WAITROOM_RETRY_AFTER``, 1..30 s by default).

* A ticket whose turn has come is admitted if a slot is free — ahead of newcomers, since those are queued while
  anyone is waiting. If the slots are full it gets a fresh token with the **same** sequence number and the
  shortest wait (``SOON``); a ticket that comes back early gets its place again, with its new estimate.
* A newcomer (no token, or one that is invalid, forged, expired, spent or from an earlier queue) is admitted if a
  slot is free and nobody is waiting; otherwise it gets the next number.
* Each ticket admits once (a bitmap of spent numbers): a token copied to a thousand clients lets one in.
* Work conservation: capacity that called ticket holders leave unused (they gave up, come back late, or the
  client never sends tokens back) must not leave slots idle. A token bucket (``credit``) fills at ``rate`` per
  second (up to ``RESERVE`` units plus ``BURST`` seconds' worth), and every admission and every called ticket
  that comes back takes one unit out — a called ticket that finds the slots full too: it would have used the
  capacity. While people wait, a newcomer may take a free slot only if the bucket holds more than ``RESERVE``
  units (left for the called holders about to come back). So while called holders come back as fast as they
  are called, newcomers get nothing; when nobody comes back, newcomers get the capacity, as without a waiting
  room. A called holder who comes back late is still admitted at the first free slot it finds, before any
  newcomer that has to wait for credit.

Why milliseconds: with ten times more arrivals than capacity, the next ``rate`` people in line got their
numbers within a tenth of a second, and a client that can only wait whole seconds comes back at the same
fraction of a second as it left — all of them together, into full slots, and then nobody for nine tenths of a
second. A simulation of the rules above (docs/adr/0008-waiting-room.md) at 10x: clients that honour
``wait_ms`` get ~95 % of the capacity in strict order; clients that honour only ``Retry-After`` 75-90 %, in
rough order; plain 503 + random Retry-After 100 %, in no order, with three times the requests.

Tokens are ``base64url(version, queue epoch, seq, issued, not_before, expires) + HMAC-SHA256`` (truncated to
128 bits) with a key derived from ``SECRET_KEY`` (and ``SECRET_KEY_FALLBACKS`` for reading); the scope is part of
the MAC, so a ticket of one admission point is no ticket at another. 60 characters; signing takes ~3 µs and
reading ~5 µs here, against 8 and 9 µs (and 121 characters) with ``django.core.signing.TimestampSigner``.

Two backends with the same rules:

* **in-process** (no ``REDIS_URL``: the embedded SQLite default runs one process) — one ``threading.Lock`` per
  queue around a few float operations;
* **Redis** (``REDIS_URL`` set: several app processes share one queue) — one Lua script per call (``ENTER``),
  Redis's clock, the capacity summed over the processes that reported in the last 10 s. A process trusts a
  "nobody is waiting" answer for ``IDLE_HINT`` seconds, so an idle system does not ask Redis on every request.
  On a Redis error the waiting room steps aside for ``REDIS_COOLDOWN`` seconds: the plain in-flight cap decides
  (a free slot admits, a full one answers a plain busy 503) — never an error page, never beyond the cap.

A queue's state lives as long as its tickets may: it starts again (new epoch, counters at 0) once no token has
been handed out or used for the token lifetime plus a minute (in Redis: the keys' TTL).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import os
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import redis
from django.conf import settings
from django.core.signals import setting_changed

VERSION = 1
_LAYOUT = struct.Struct(">B8sQIII")   # version, queue epoch, sequence number, issued, not before, expires (Unix s)
MAC_BYTES = 16
TOKEN_BYTES = _LAYOUT.size + MAC_BYTES
TOKEN_CHARS = TOKEN_BYTES * 4 // 3   # 45 bytes: 60 characters, no padding

DEFAULT_TOKEN_SECONDS = 300
DEFAULT_RETRY_AFTER = (1, 30)
DEFAULT_MIN_RATE = 5.0
DEFAULT_PREFIX = "allot:wr"
PLAIN_RETRY_AFTER = (2, 6)   # seconds: the plain busy answer (no ticket), spread (1-3 s: bench/README.md)
BUSY_BUDGET = 500            # returns booked for any one second per process (``Returns``)
MAX_STRETCH = 10.0           # the longest wait: the range's end times this (60 s with the default range)
JITTER = 0.1                 # wait = estimate × uniform(1, 1 + JITTER): late is fine, early is a wasted trip
SOON = 0.25                  # seconds: the wait of a called ticket that found the slots full (50 ms made
                             # called holders poll ~8 times each at 1x in bench/surge.py, and cost 1/3 of
                             # the accepted claims; 250 ms: ~0.25 polls each, no loss: bench/README.md)
BURST = 0.25                 # seconds of capacity newcomers may take at once when holders leave it unused
RESERVE = 2.0                # units of credit a newcomer leaves to the called holders about to come back
KEEP = 60                    # seconds a queue outlives its last token's lifetime
IDLE_HINT = 0.1              # seconds a "nobody is waiting" answer from Redis is trusted (Redis backend)
REDIS_COOLDOWN = 1.0         # seconds the Redis backend is skipped after an error
RATE_REPORT_SECONDS = 10     # a process's capacity counts this long after its last call (Redis backend)


@dataclass(frozen=True, slots=True)
class Ticket:
    """A verified token: a place in the queue ``epoch`` of its scope."""

    epoch: str      # 16 hex digits
    seq: int
    issued: int     # Unix seconds
    not_before: int
    expires: int


@dataclass(frozen=True, slots=True)
class Entry:
    """The answer of ``Waitroom.enter``: admitted (the caller holds a slot), or wait ``retry_after`` seconds —
    with a ticket (``token``, ``position``) or, when the waiting room is off or unavailable, without."""

    admitted: bool
    retry_after: int = 0    # whole seconds (the Retry-After header): the wait rounded up and clamped
    token: str = ""
    position: int = 0
    wait_ms: int = 0        # the wait itself, for clients that can come back to the millisecond


ADMIT = Entry(admitted=True)


class Returns:
    """When the residents this process told "busy" without a ticket will come back: how many are booked for each
    coming second (whole seconds of the clock ``plain_busy`` reads). Updated without a lock — a booking lost to a
    thread switch only puts one more return in a second that is at its budget anyway."""

    def __init__(self) -> None:
        self.booked: dict[int, int] = {}   # second -> returns booked for it
        self.swept = 0                     # the second up to which past bookings were dropped
        self.cursor = 0                    # the earliest second that may still have room, once the range was full

    def book(self, now: float, lo: int, hi: int, budget: int, longest: int) -> int:
        """A wait in whole seconds for a resident refused at ``now``: drawn uniformly from ``lo``-``hi`` if that
        second has fewer than ``budget`` returns booked, else the earliest later second that has (searched from
        where the last search ended); past ``longest`` seconds, drawn from ``hi``-``longest`` unbooked."""
        second = int(now)
        booked = self.booked
        if second != self.swept:
            for past in [s for s in booked if s <= second]:
                del booked[past]
            self.swept = second
        at = second + lo + int(random.random() * (hi - lo + 1))   # randint(lo, hi), at a fifth of its cost
        if booked.get(at, 0) >= budget:
            at = max(self.cursor, second + lo)
            while booked.get(at, 0) >= budget and at - second <= longest:
                at += 1
            self.cursor = at
            if at - second > longest:
                return hi + int(random.random() * (longest - hi + 1))   # randint(hi, longest)
        booked[at] = booked.get(at, 0) + 1
        return at - second


_returns = Returns()


def plain_busy(*, now: float | None = None) -> Entry:
    """The busy answer without a ticket: ``Retry-After`` drawn uniformly from ``ALLOT_ADMISSION_RETRY_AFTER``
    (seconds, default 2-6), so that the residents refused in one instant do not all come back in the next — and
    booked (``Returns``): no coming second gets more than ``ALLOT_ADMISSION_BUSY_BUDGET`` (default 500) of this
    process's returns; past that, a resident is told the earliest later second with room, up to ``MAX_STRETCH``
    times the range's end.

    Why: under a surge most requests are people coming back after a busy answer, and they keep coming back until a
    unit is theirs or the day's are gone. With a fixed range the returns grow with the crowd until refusing them
    takes the whole machine (bench/surge.py at ten times the capacity: p99 of several seconds with 2-6 s). A range
    stretched in proportion to the refusal rate did not hold the returns at the budget: with ``N`` people waiting
    and a mean base wait ``m``, the rate settles where rate = N / (m × rate / budget), at sqrt(N × budget / m) —
    4,500 a second per process for the 40,000 residents each process refused at 10× on a slow box, whose
    processes then did little but refuse them, and accepted 65 claims a second where they could accept 790
    (bench/README.md, eleventh session). Booked seconds hold the returns at the budget whatever the crowd; a
    resident told busy waits longer only when the coming seconds are full."""
    c = config()
    (lo, hi), budget = c.plain_retry_after, c.busy_budget
    wait = _returns.book(time.monotonic() if now is None else now, lo, hi, budget, round(hi * MAX_STRETCH))
    return Entry(admitted=False, retry_after=wait)


# --- settings --------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Config:
    """The settings the waiting room reads on every request, read once (Django's settings object costs ~1 µs
    per attribute) and again after a setting changes (tests)."""

    enabled: bool
    token_seconds: int
    retry_after: tuple[int, int]
    min_rate: float
    redis_url: str
    prefix: str
    keys: tuple[bytes, ...]     # the signing key first, then those of SECRET_KEY_FALLBACKS (still read)
    plain_retry_after: tuple[int, int]   # the plain busy answer's (``plain_busy``)
    busy_budget: int


_config: Config | None = None


def _derive(secret: str) -> bytes:
    return hmac.digest(secret.encode(), b"allot.core.waitroom/v1", "sha256")


def config() -> Config:
    global _config
    c = _config
    if c is None:
        lo, hi = getattr(settings, "ALLOT_WAITROOM_RETRY_AFTER", DEFAULT_RETRY_AFTER)
        lo = max(1, int(lo))
        plain_lo, plain_hi = getattr(settings, "ALLOT_ADMISSION_RETRY_AFTER", PLAIN_RETRY_AFTER)
        plain_lo = max(1, int(plain_lo))
        c = _config = Config(
            # Several app processes (REDIS_URL set) without the shared line: a ticket from one process is no ticket
            # at another, and a client whose next request lands on the other process loses its place — worse
            # than the plain busy answer (bench/README.md); so the line is on there only when shared.
            enabled=bool(getattr(settings, "ALLOT_WAITROOM", False)) and (
                not getattr(settings, "REDIS_URL", "") or bool(getattr(settings, "ALLOT_WAITROOM_SHARED", False))),
            token_seconds=int(getattr(settings, "ALLOT_WAITROOM_TOKEN_SECONDS", DEFAULT_TOKEN_SECONDS)),
            retry_after=(lo, max(lo, int(hi))),
            min_rate=max(0.01, float(getattr(settings, "ALLOT_WAITROOM_MIN_RATE", DEFAULT_MIN_RATE))),
            # one line shared through Redis only when asked for: at 10x its round trip per refusal (~200 µs of
            # redis-py) made the line collapse in bench/surge.py (p99 5 s); by default each process keeps its own
            redis_url=(getattr(settings, "REDIS_URL", "") or "") if getattr(settings, "ALLOT_WAITROOM_SHARED",
                                                                             False) else "",
            prefix=getattr(settings, "ALLOT_WAITROOM_PREFIX", DEFAULT_PREFIX),
            keys=tuple(_derive(s) for s in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))),
            plain_retry_after=(plain_lo, max(plain_lo, int(plain_hi))),
            busy_budget=max(1, int(getattr(settings, "ALLOT_ADMISSION_BUSY_BUDGET", BUSY_BUDGET))))
    return c


def _forget_config(**_kwargs: Any) -> None:
    global _config
    _config = None


setting_changed.connect(_forget_config)


def enabled() -> bool:
    return config().enabled


def token_seconds() -> int:
    return config().token_seconds


# --- tokens ----------------------------------------------------------------------------------------------

def token_sign(*, scope: str, epoch: str, seq: int, issued: int, not_before: int, expires: int) -> str:
    payload = _LAYOUT.pack(VERSION, bytes.fromhex(epoch), seq, issued, not_before, expires)
    mac = hmac.digest(config().keys[0], scope.encode() + b"\0" + payload, "sha256")[:MAC_BYTES]
    return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode("ascii")


def token_read(token: str, *, scope: str, now: float | None = None) -> Ticket | None:
    """The ticket a token carries, or None if it is malformed, forged, of another scope or expired."""
    if len(token) != TOKEN_CHARS:
        return None
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != TOKEN_BYTES:
        return None
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    message = scope.encode() + b"\0" + payload
    if not any(hmac.compare_digest(hmac.digest(k, message, "sha256")[:MAC_BYTES], mac) for k in config().keys):
        return None
    version, epoch, seq, issued, not_before, expires = _LAYOUT.unpack(payload)
    if version != VERSION or expires < (time.time() if now is None else now):
        return None
    return Ticket(epoch=epoch.hex(), seq=seq, issued=issued, not_before=not_before, expires=expires)


# --- the in-process queue --------------------------------------------------------------------------------

class _Queue:
    """One queue's state and rules (the caller holds the lock). ``ENTER`` below is the same in Lua."""

    def __init__(self, now: float) -> None:
        self.reset(now)

    def reset(self, now: float) -> None:
        self.epoch = os.urandom(8).hex()
        self.issued = 0
        self.serving = 0.0
        self.t = now
        self.credit = 0.0       # token bucket: capacity (rate per second) minus every admission
        self.spent = bytearray()
        self.last_token = now   # when a token was last handed out or a ticket admitted

    def enter(self, ticket: Ticket | None, take: Callable[[], bool], rate: float, now: float,
              keep: float) -> tuple[bool, int]:
        """(admitted, sequence number to hand out)."""
        if now - self.last_token > keep:
            self.reset(now)     # every token has expired: start afresh, forget the spent numbers
        dt = max(0.0, now - self.t)
        self.t = now
        self.serving = min(float(self.issued), self.serving + rate * dt)
        burst = max(1.0, rate * BURST)
        self.credit = min(RESERVE + burst, self.credit + rate * dt)
        if (ticket is not None and ticket.epoch == self.epoch and 1 <= ticket.seq <= self.issued
                and not self._spent(ticket.seq)):
            seq = ticket.seq
            self.last_token = now
            if seq <= self.serving:     # called: it uses the capacity, or would if a slot were free
                self.credit = max(-burst, self.credit - 1.0)
                if take():
                    self._spend(seq)
                    return True, 0
            return False, seq
        waiting = self.issued > self.serving
        if (not waiting or self.credit >= RESERVE + 1.0) and take():
            self.credit = max(-burst, self.credit - 1.0)
            return True, 0
        self.issued += 1
        self.last_token = now
        return False, self.issued

    def _spent(self, seq: int) -> bool:
        i = seq >> 3
        return i < len(self.spent) and bool(self.spent[i] & (1 << (seq & 7)))

    def _spend(self, seq: int) -> None:
        i = seq >> 3
        if i >= len(self.spent):
            self.spent.extend(bytes(i + 1 - len(self.spent) + 64))
        self.spent[i] |= 1 << (seq & 7)


# --- the Redis queue -------------------------------------------------------------------------------------

# KEYS: state (hash), spent (bitmap), rates (hash: reporter -> "rate time").
# ARGV: 1 ticket epoch ('' none), 2 ticket seq, 3 slot held '1'/'0', 4 reporter, 5 reporter's rate, 6 key TTL s,
#       7 minimum rate, 8 BURST, 9 epoch for a new queue, 10 now ('' = Redis TIME), 11 rate report s, 12 RESERVE.
# -> {'in' | 'wait', epoch, seq, serving (string), rate (string), issued}
ENTER = """
local now
if ARGV[10] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[10])
end
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5] .. ' ' .. now)
redis.call('EXPIRE', KEYS[3], 60)
local rate = 0
local rows = redis.call('HGETALL', KEYS[3])
for i = 1, #rows, 2 do
  local r, seen = string.match(rows[i + 1], '^(%S+) (%S+)$')
  if r and now - tonumber(seen) <= tonumber(ARGV[11]) then
    rate = rate + tonumber(r)
  else
    redis.call('HDEL', KEYS[3], rows[i])
  end
end
rate = math.max(rate, tonumber(ARGV[7]))
local ttl = tonumber(ARGV[6])
local s = redis.call('HMGET', KEYS[1], 'epoch', 'issued', 'serving', 't', 'credit')
local epoch, issued, serving, last, credit = s[1], 0, 0, now, 0
local touched = false
if not epoch then
  epoch = ARGV[9]
  redis.call('DEL', KEYS[2])
  touched = true
else
  issued, serving, last, credit = tonumber(s[2]), tonumber(s[3]), tonumber(s[4]), tonumber(s[5])
end
local dt = math.max(0, now - last)
serving = math.min(issued, serving + rate * dt)
local burst, reserve = math.max(1, rate * tonumber(ARGV[8])), tonumber(ARGV[12])
credit = math.min(reserve + burst, credit + rate * dt)
local slot = ARGV[3] == '1'
local tseq = tonumber(ARGV[2])
local code, seq = 'wait', 0
if ARGV[1] == epoch and tseq >= 1 and tseq <= issued and redis.call('GETBIT', KEYS[2], tseq) == 0 then
  seq = tseq
  touched = true
  if seq <= serving then
    credit = math.max(-burst, credit - 1)
    if slot then
      redis.call('SETBIT', KEYS[2], seq, 1)
      code = 'in'
    end
  end
else
  local waiting = issued > serving
  if slot and (not waiting or credit >= reserve + 1) then
    credit = math.max(-burst, credit - 1)
    code = 'in'
  else
    issued = issued + 1
    seq = issued
    touched = true
  end
end
redis.call('HSET', KEYS[1], 'epoch', epoch, 'issued', issued, 'serving', tostring(serving), 't', tostring(now),
           'credit', tostring(credit))
if touched then
  redis.call('EXPIRE', KEYS[1], ttl)
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ttl) end
end
return {code, epoch, seq, tostring(serving), tostring(rate), issued}
"""

_clients: dict[str, redis.Redis] = {}
_scripts: dict[str, Any] = {}
_down_until: dict[str, float] = {}
_clients_lock = threading.Lock()
_HOST = socket.gethostname()


def _client(url: str) -> tuple[redis.Redis, Any]:
    """One connection pool per process and URL, with short timeouts: the waiting room never waits long."""
    r = _clients.get(url)
    if r is None:
        with _clients_lock:
            r = _clients.get(url)
            if r is None:
                r = redis.Redis.from_url(url, socket_connect_timeout=0.2, socket_timeout=0.3,
                                         health_check_interval=30, max_connections=256)
                _scripts[url] = r.register_script(ENTER)
                _clients[url] = r
    return r, _scripts[url]


def redis_keys(scope: str) -> tuple[str, str, str]:
    tag = f"{config().prefix}:{{{scope}}}"   # one hash slot per queue: the script also runs on a Redis Cluster
    return f"{tag}:state", f"{tag}:spent", f"{tag}:rates"


# --- the waiting room ------------------------------------------------------------------------------------

class Waitroom:
    """The queue of one admission point (``scope``). ``enter`` decides one request."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self._lock = threading.Lock()
        self._queue: _Queue | None = None
        self._idle_until = 0.0       # Redis backend: until when (monotonic) "nobody is waiting" is trusted
        self._reporter = f"{_HOST}:{os.getpid()}:{id(self):x}"

    def enter(self, *, token: str | None, take: Callable[[], bool], give: Callable[[], None], rate: float,
              now: float | None = None) -> Entry:
        """Admit this request (``take()`` got it a slot, which the caller gives back when done) or tell it to
        wait. ``take``/``give`` acquire and release one slot without blocking; ``rate`` is this process's capacity
        in requests per second; ``now`` (Unix seconds) is for tests."""
        clock = time.time() if now is None else now
        ticket = token_read(token, scope=self.scope, now=clock) if token else None
        c = config()
        rate = max(rate, c.min_rate)
        if c.redis_url:
            return self._enter_redis(c, ticket, take, give, rate, clock, now is not None)
        keep = c.token_seconds + KEEP
        with self._lock:
            if self._queue is None:
                self._queue = _Queue(clock)
            queue = self._queue
            admitted, seq = queue.enter(ticket, take, rate, clock, keep)
            if admitted:
                return ADMIT
            epoch, serving = queue.epoch, queue.serving
        return self._wait(c, epoch, seq, serving, rate, clock)

    def _enter_redis(self, c: Config, ticket: Ticket | None, take: Callable[[], bool], give: Callable[[], None],
                     rate: float, clock: float, clock_given: bool) -> Entry:
        url = c.redis_url
        mono = time.monotonic()
        if _down_until.get(url, 0.0) > mono:
            return ADMIT if take() else plain_busy()
        held = take()
        if held and ticket is None and mono < self._idle_until:
            return ADMIT
        state, spent, rates = redis_keys(self.scope)
        try:
            _r, script = _client(url)
            answer = cast(list[Any], script(keys=[state, spent, rates], args=[
                ticket.epoch if ticket else "", ticket.seq if ticket else 0, "1" if held else "0", self._reporter,
                repr(rate), c.token_seconds + KEEP, repr(c.min_rate), repr(BURST), os.urandom(8).hex(),
                repr(clock) if clock_given else "", RATE_REPORT_SECONDS, repr(RESERVE)]))
        except (redis.RedisError, OSError):
            _down_until[url] = mono + REDIS_COOLDOWN
            return ADMIT if held else plain_busy()   # the plain in-flight cap decides
        code, epoch, seq, serving, total = (answer[0].decode(), answer[1].decode(), int(answer[2]),
                                            float(answer[3]), float(answer[4]))
        self._idle_until = mono + IDLE_HINT if int(answer[5]) <= serving else 0.0
        if code == "in":
            return ADMIT
        if held:
            give()
        return self._wait(c, epoch, seq, serving, total, clock)

    def _wait(self, c: Config, epoch: str, seq: int, serving: float, rate: float, clock: float) -> Entry:
        lo, hi = c.retry_after
        ahead = seq - serving
        if ahead <= 0:      # its turn has come but the slots are full: straight back
            wait, position = SOON, 1
        else:
            wait, position = min(float(hi), ahead / rate * random.uniform(1.0, 1.0 + JITTER)), math.ceil(ahead)
        retry = min(hi, max(lo, math.ceil(wait)))
        issued = int(clock)
        token = token_sign(scope=self.scope, epoch=epoch, seq=seq, issued=issued, not_before=issued + retry,
                           expires=issued + c.token_seconds)
        return Entry(admitted=False, retry_after=retry, token=token, position=position,
                     wait_ms=max(1, round(wait * 1000)))
