"""The claim lane: ``POST /api/v1/campaigns/{slug}/claims`` answered on an asyncio event loop, every other request
handed to the WSGI application (Django) in a thread — the ASGI application ``config/asgi.py`` serves.

Why: on the WSGI path every claim held a server thread while it waited for the claim writer, Redis and the
database, and on this two-core box the switching between those threads cost more than the claims themselves: a
bare WSGI view that handed each request to a writer thread answered 9,000 requests a second, the same view on an
event loop 20,000; with one Redis call and one PostgreSQL statement per batch behind it, 1,950 against 3,300–4,000
(bench/README.md, fifth session; docs/adr/0012-claim-lane.md). Here a claim waits as a future, and the writer
thread wakes a whole batch's futures with one call into the loop.

What the lane answers, and how it stays Django's answer:

* only a claim the WSGI application's fast lane (``claim_fast.ClaimFastWSGI``) could answer: a body that
  validates, a known campaign whose window is open and whose area is not flagged sold out, in a language, host and
  scheme whose headers Django has already given a 201 (``ClaimFastWSGI.learned``). Anything else goes to Django
  with the body already read, and Django answers it exactly as before;
* the claim is checked on the loop (``resident.claim_prepare`` without counting: window, proof of work, fields,
  eligibility, quota) — pure computation once the process's caches are warm. A cache to fill (the campaign, the
  gazetteer, the day's quota row) makes the ORM raise ``SynchronousOnlyOperation`` on the loop; a refused claim
  must be counted, which is I/O: either way the claim is prepared again in a thread, the way Django's path prepares
  it. The sold-out flags' shared copy is read in a thread too (``gate.shared_reads_deferred``);
* the job goes to the process's claim writer (``services.claim_enqueue``), which counts, takes the unit (one Redis
  script call per batch) and writes (one transaction per batch), then wakes the loop;
* the answer is rendered as the fast lane renders it (``claim_fast.encode``, ``error_body``) with the headers
  Django gave, so the same claim gets the same status, headers and body on either path
  (tests/firstcome/test_claim_lane.py compares them).

Admission: at most ``ALLOT_LANE_MAX_IN_FLIGHT`` claims per process wait in the lane; a lane starts (and starts
again after a quiet second) from ``ALLOT_LANE_MIN_IN_FLIGHT`` and grows at most twofold every 100 ms, and while it
is refusing claims holds only as many as it answers in ``ALLOT_LANE_TARGET_MS`` (``_Drain``). The next one is
answered 503 ``busy`` at once, with the body and headers Django built for that key (``admission.busy_reply``;
Django builds it, marked ``admission.FRONT_BUSY``, in the background at the first claim the lane answers), or
"sold out for today" when the process's flags say the whole campaign is. The early answers Django marked replayable
("sold out for today") are replayed here for every API admission path, as ``AdmissionWSGI`` replays them, without a
thread.
With the waiting room on (``ALLOT_WAITROOM``) every claim goes to Django, whose admission keeps the line.

The units left (``GET /c/<slug>/claim/remaining.json`` and ``/api/v1/campaigns/<slug>/claims/remaining``), which
every resident's page asks every 5 s, are answered from a copy of Django's answer for up to
``ALLOT_LANE_CACHE_SECONDS`` (1 s; at most the ``max-age`` Django gave them), per language, host and scheme, with an
``Age`` header: one request per key asks Django, the others that meet it wait for its copy.

``ALLOT_API_FAST_CLAIM=false`` turns the lane off with the WSGI fast lane: every request goes to Django.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
import pydantic
from a2wsgi import WSGIMiddleware
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import close_old_connections, connections
from django.utils import timezone, translation

from allot.core import admission, waitroom
from allot.core.conf import setting
from allot.core.errors import DomainError
from allot.delivery.addresses import gazetteer_refresh, gazetteer_refresh_due
from allot.firstcome import gate, loop_writer, selectors
from allot.firstcome.models import Claim
from allot.firstcome.resident import claim_prepare
from allot.firstcome.services import (
    ClaimRequest,
    claim_enqueue,
    claim_result,
    claim_run,
    sold_out_recheck,
    sold_out_refresh,
)
from allot.firstcome.writer import ClaimJob, job_release
from allot.verification.ratelimit import Client

from .claim_fast import MAX_BODY, PATH, ClaimFastWSGI, enabled, encode, error_body, server_error_body
from .claim_fast import _Plain as ClaimInPlain
from .claims import claim_created_out

logger = logging.getLogger("django.request")

DEFAULT_MAX_IN_FLIGHT = 48
DEFAULT_MIN_IN_FLIGHT = 8   # claims the lane admits however slowly it answers (they keep its rate measured), and
                            # what it starts from at a process's first claim and after a lull (``_Drain``)
DEFAULT_MAX_LAG_MS = 100
DEFAULT_TARGET_MS = 50
DEFAULT_WSGI_THREADS = 14
DEFAULT_CACHE_SECONDS = 1.0
CACHED = re.compile(r"^/(?:api/v1/campaigns/[-\w]+/claims/remaining|c/[-\w]+/claim/remaining\.json)$")
"""GETs the lane answers from a copy of Django's answer (``ALLOT_LANE_CACHE_SECONDS``): the units left today, which
every resident's page asks every few seconds. Public figures, the same for everyone who asks in one language."""
CACHED_ENDS = ("/claims/remaining", "/claim/remaining.json")   # a cheap test before the environ is built
MAX_CACHED = 256
MAX_AGE = re.compile(r"(?:^|,)\s*max-age=(\d+)")
_HEADERS = {b"host": "HTTP_HOST", b"accept-language": "HTTP_ACCEPT_LANGUAGE", b"cookie": "HTTP_COOKIE",
            b"x-forwarded-proto": "HTTP_X_FORWARDED_PROTO", b"content-length": "CONTENT_LENGTH",
            b"allot-queue-token": admission.QUEUE_META}
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
T = TypeVar("T")


def _environ(scope: Scope) -> dict[str, Any]:
    """What the lane reads of a request, with the names the WSGI environ gives them (the replay keys and the fast
    lane's header keys are computed from these, as on the WSGI path)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    client = scope.get("client")
    environ: dict[str, Any] = {"REQUEST_METHOD": scope["method"], "PATH_INFO": path,
                               "wsgi.url_scheme": scope.get("scheme", "http"),
                               "REMOTE_ADDR": client[0] if client else ""}
    for name, value in scope.get("headers", ()):
        key = _HEADERS.get(name)
        if key is not None:
            text = value.decode("latin1")
            environ[key] = f"{environ[key]},{text}" if key in environ else text
    return environ


def _encode_headers(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> list[tuple[bytes, bytes]]:
    """Header names and values as the WSGI bridge sends Django's (a2wsgi: stripped, names in lower case)."""
    return [(k.strip().lower().encode("latin1"), v.strip().encode("latin1")) for k, v in headers]


async def _read(receive: Receive, length: int) -> bytes | None:
    """The request body (``length`` bytes said); None when the client went away first."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body") or size > length:
            return b"".join(chunks)


def _replay(receive: Receive, body: bytes) -> Receive:
    """``receive`` for a request whose body the lane has read: the body once, then the original ``receive``."""
    sent = False

    async def again() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _ended(body: bytes) -> Receive:
    """``receive`` of a request the lane makes itself: ``body``, then the client gone."""
    messages = iter(({"type": "http.request", "body": body, "more_body": False},))

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "http.disconnect"})

    return receive


async def _dropped(message: dict[str, Any]) -> None:
    """``send`` of a request the lane makes itself: its answer goes nowhere."""


def threads_close(executor: ThreadPoolExecutor) -> None:
    """Each thread of ``executor`` closes its database connections (one task per thread, held at a barrier until
    all of them run, so that no thread takes two), then the executor ends."""
    n = executor._max_workers
    barrier = threading.Barrier(n)

    def close() -> None:
        try:
            barrier.wait(timeout=10)
        finally:
            connections.close_all()

    for future in [executor.submit(close) for _ in range(n)]:
        with contextlib.suppress(threading.BrokenBarrierError):
            future.result(timeout=30)
    executor.shutdown(wait=True)


_COLD, _REFUSED, _SOLD_OUT, _WAITED = object(), object(), object(), object()


class _Copy:
    """A 200 answer kept for the next GETs of the same key until ``expires`` (the loop's clock)."""

    __slots__ = ("body", "expires", "headers", "stored")

    def __init__(self, headers: list[tuple[bytes, bytes]], body: bytes, stored: float, expires: float) -> None:
        self.headers, self.body, self.stored, self.expires = headers, body, stored, expires


def _keepable(status: int, headers: list[tuple[bytes, bytes]], limit: float) -> float:
    """How long an answer may be kept (0: not at all): a 200 that Django marked ``public`` with a ``max-age``, that
    sets no cookie, for at most ``limit`` seconds and at most its max-age."""
    if status != 200:
        return 0.0
    control = b""
    for name, value in headers:
        if name == b"set-cookie":
            return 0.0
        if name == b"cache-control":
            control = value.lower()
    age = MAX_AGE.search(control.decode("latin1"))
    if b"public" not in control or b"no-store" in control or b"private" in control or age is None:
        return 0.0
    return min(limit, float(age.group(1)))


class _Waker:
    """Resolves the futures of one event loop's claims; the writer thread calls ``wake`` once per batch."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.futures: dict[int, asyncio.Future[None]] = {}

    def expect(self, job: ClaimJob) -> asyncio.Future[None]:
        future = self.loop.create_future()
        self.futures[id(job)] = future
        job.waker = self
        return future

    def wake(self, jobs: list[ClaimJob]) -> None:
        self.loop.call_soon_threadsafe(self._resolve, jobs)

    def _resolve(self, jobs: list[ClaimJob]) -> None:
        for job in jobs:
            future = self.futures.pop(id(job), None)
            if future is not None and not future.done():
                future.set_result(None)


def _log_failure(future: Future[Any] | asyncio.Future[Any]) -> None:
    """A job of the lane's threads that nobody awaits: what it raised is logged."""
    if not future.cancelled() and future.exception() is not None:
        logger.error("claim lane: a background job failed", exc_info=future.exception())


class _Lag:
    """How late this event loop runs what falls due, in seconds: a timer every ``PERIOD`` notes its own delay.
    A loop that is late is behind with the requests it has already taken in; admitting more claims then only
    makes every answer later, so the lane refuses new ones until it has caught up."""

    PERIOD = 0.005

    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.seconds = 0.0
        self.seen: collections.Counter[float] = collections.Counter()   # samples by bucket (upper bound, s)
        self._due = loop.time() + self.PERIOD
        loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        self.seconds = max(0.0, now - self._due)
        self.seen[next((b for b in self.BUCKETS if self.seconds <= b), float("inf"))] += 1
        self._due = now + self.PERIOD
        self.loop.call_at(self._due, self._tick)


class _Drain:
    """How many claims the lane may hold: so many that a new one waits about ``target`` seconds longer than the
    quickest accepted claim of the last ``BASE_WINDOW`` seconds (its ``base``). Every ``INTERVAL`` (or longer, when no
    claim was answered sooner) the claims it answered per second times ``base + target`` (Little's law: waiting =
    held / answered per second), never below ``floor`` nor above ``cap``, and at most twice the last limit; without a
    refusal in the interval, twice the last limit. After ``IDLE`` seconds with no claim, it starts again from
    ``floor``.

    Why it starts low and grows (as TCP's slow start does): at an opening every process admitted its whole cap
    at once; each claim costs the loop 2-3 ms of checks on a slow box, so the last of 48 was answered 0.3 s
    later, and a lane that answered nothing for longer than an interval was taken for idle and kept its cap
    (bench/README.md, eighth session). Under overload the lane answers fewer claims a second — its loop is busy
    refusing the surplus — and a fixed cap then meant a longer wait for every claim it held.

    Why ``base`` (as TCP Vegas and BBR take the least round trip seen as the path's own): an accepted claim waits
    for a batch's round trip to Redis and PostgreSQL, however few claims the lane holds. With every core busy
    answering a surge ten times the capacity, that round trip alone took 100-500 ms; a wait of ``target`` (50 ms)
    was then never met, the limit fell to its floor of 8 and stayed there, and the lane accepted 24-160 claims a
    second while it could batch 48 in the same round trip (bench/README.md, tenth session). Only the wait on top
    of the quickest claim is the wait that holding fewer claims shortens."""

    INTERVAL = 0.1
    IDLE = 1.0
    BASE_WINDOW = 2.0

    def __init__(self, target: float, floor: int, cap: int) -> None:
        self.target, self.floor, self.cap = target, floor, cap
        self.limit = min(floor, cap)
        self._answered = self._refused = 0
        self._since = self._last = float("-inf")
        self._quickest = float("inf")   # of the accepted claims of this interval
        self._quickest_seen: collections.deque[tuple[float, float]] = collections.deque()   # (interval end, quickest)

    @property
    def base(self) -> float:
        """The quickest accepted claim of the last ``BASE_WINDOW`` seconds (0 without one)."""
        return min((q for _end, q in self._quickest_seen), default=0.0)

    def arrived(self, now: float, in_flight: int) -> None:
        """A claim at ``now`` with ``in_flight`` in the lane: after an idle lane, start from the floor."""
        if not in_flight and now - self._last > self.IDLE:
            self.limit = min(self.floor, self.cap)
            self._answered = self._refused = 0
            self._since = now
            self._quickest = float("inf")
            self._quickest_seen.clear()
        self._last = now

    def refused(self) -> None:
        self._refused += 1

    def answered(self, now: float, took: float | None = None) -> None:
        """A claim answered at ``now``; ``took``: how long it was in the lane, if it was accepted."""
        self._answered += 1
        self._last = now
        if took is not None and took < self._quickest:
            self._quickest = took
        elapsed = now - self._since
        if elapsed >= self.INTERVAL:
            seen = self._quickest_seen
            if self._quickest != float("inf"):
                seen.append((now, self._quickest))
            while seen and seen[0][0] < now - self.BASE_WINDOW:
                seen.popleft()
            grown = min(self.cap, 2 * self.limit)
            if self._refused:
                wait = self.base + self.target
                self.limit = min(grown, max(self.floor, round(self._answered * wait / elapsed)))
            else:
                self.limit = grown
            self._answered = self._refused = 0
            self._quickest = float("inf")
            self._since = now


class ClaimLane:
    """The ASGI application: the claim lane, and ``wsgi_app`` (Django, with ``fast`` its fast lane) for the rest."""

    def __init__(self, wsgi_app: Callable[..., Any], *, fast: ClaimFastWSGI, threads: int | None = None) -> None:
        self.fast = fast
        self._wsgi: Any = WSGIMiddleware(wsgi_app, workers=threads or int(
            getattr(settings, "ALLOT_WSGI_THREADS", DEFAULT_WSGI_THREADS)))
        self.patterns = [re.compile(p) for p in getattr(settings, "ALLOT_ADMISSION_PATHS", admission.DEFAULT_PATHS)]
        self.cap = int(getattr(settings, "ALLOT_LANE_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT))
        self.max_lag = float(getattr(settings, "ALLOT_LANE_MAX_LAG_MS", DEFAULT_MAX_LAG_MS)) / 1000
        self._lag: _Lag | None = None
        self._drain = _Drain(float(getattr(settings, "ALLOT_LANE_TARGET_MS", DEFAULT_TARGET_MS)) / 1000,
                             int(getattr(settings, "ALLOT_LANE_MIN_IN_FLIGHT", DEFAULT_MIN_IN_FLIGHT)), self.cap)
        self.in_flight = 0
        self.stats: collections.Counter[str] = collections.Counter()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="allot-lane")
        self._flags_reading: Future[None] | None = None   # the read of the flags' shared copy in a thread, if any
        self._waker: _Waker | None = None
        self._loop_writer: loop_writer.LoopWriter | None = None
        self._teaching: dict[tuple[str, ...], asyncio.Event] = {}   # keys whose headers a claim is learning now
        # what one request is doing now for all those of its key (``_once``): filling a cache, having Django
        # build an answer to keep
        self._running: dict[tuple[object, ...], asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()   # started and not awaited (refreshes, the warm-up)
        self._encodings: dict[int, tuple[object, list[tuple[bytes, bytes]]]] = {}
        # (id of Django's busy answer, Retry-After) -> (that answer, status, encoded headers, body)
        self._busy_answers: dict[tuple[int, int], tuple[object, int, list[tuple[bytes, bytes]], bytes]] = {}
        self.cache_seconds = float(getattr(settings, "ALLOT_LANE_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))
        self._copies: dict[tuple[object, ...], _Copy] = {}
        self._copying: dict[tuple[object, ...], asyncio.Event] = {}   # keys whose copy a request is fetching now
        # slug -> (its cached campaign, until when (monotonic), its open day or None): ``_whole_sold_out``
        self._open_days: dict[str, tuple[object, float, dt.date | None]] = {}
        self._rechecks: dict[str, asyncio.Future[bool]] = {}   # slug -> the record being asked (``_sold_out_again``)
        self._refreshed: dict[str, float] = {}   # slug -> when (monotonic) ``_sold_out_refresh`` last asked

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            await self.bridge(scope, receive, send)
            return
        if scope["method"] == "GET" and self.cache_seconds > 0 and scope["path"].endswith(CACHED_ENDS):
            environ = _environ(scope)
            if CACHED.match(environ["PATH_INFO"]):
                await self._copied(scope, receive, send, environ)
                return
        if scope["path"].startswith("/api/"):
            environ = _environ(scope)
            path = environ["PATH_INFO"]
            if any(p.match(path) for p in self.patterns):
                reply = admission.early_reply(environ)
                if reply is not None:
                    self.stats["replayed"] += 1
                    if reply.until - time.monotonic() < self.REFRESH_AHEAD:
                        match = PATH.match(path)
                        if match is not None and environ["REQUEST_METHOD"] == "POST":
                            self._sold_out_refresh(match["slug"])
                    await self._replayed(reply, send)
                    return
                match = PATH.match(path)
                if (match is not None and environ["REQUEST_METHOD"] == "POST" and enabled()
                        and not waitroom.enabled()):
                    await self._claim(scope, receive, send, environ, match["slug"])
                    return
        await self.bridge(scope, receive, send)

    async def bridge(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The request to the WSGI application, run in one of the bridge's threads (a2wsgi). An empty chunk of a
        body that goes on is not passed to the server: after the headers of an empty answer (a redirect) granian
        has already ended the response, and such a chunk was logged as a transport error. ``receive`` is passed as a
        coroutine function: the bridge reads the body with ``asyncio.run_coroutine_threadsafe(receive())``, and
        granian's ``receive()`` is an awaitable that is not a coroutine (every body Django read failed on it)."""
        async def send_nonempty(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("more_body") and not message.get("body"):
                return
            await send(message)

        async def received() -> dict[str, Any]:
            return await receive()

        await self._wsgi(scope, received, send_nonempty)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._startup_warm()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if os.environ.get("ALLOT_LANE_STATS"):   # bench/surge.py: what the lane answered, by kind
                    lag = dict(sorted(self._lag.seen.items())) if self._lag is not None else {}
                    print(f"claim lane {os.getpid()}: {dict(self.stats)}; loop lag samples by bucket (s): {lag}",
                          file=sys.stderr, flush=True)
                await self.aclose()
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _startup_warm(self) -> None:
        """At start-up, on PostgreSQL + Redis: the loop writer's connections opened and its statement and script
        prepared (``LoopWriter.warm``), in the background — a process otherwise did that with its first batch, at
        the opening, while the claims behind it waited (bench/README.md, sixth session)."""
        if not (enabled() and not waitroom.enabled() and loop_writer.usable()):
            return
        loop = asyncio.get_running_loop()
        writer = self._loop_writer = loop_writer.LoopWriter(loop, self._in_thread)
        self._background(writer.warm())

    async def aclose(self) -> None:
        """Let the work started in the background on this event loop end (up to ``CLOSE_WAIT`` seconds: a cache
        being filled, an answer Django is building to keep), then close its writer (its Redis and PostgreSQL
        connections), if it has one."""
        loop = asyncio.get_running_loop()
        started = [task for task in self._tasks if task.get_loop() is loop]
        if started:
            await asyncio.wait(started, timeout=self.CLOSE_WAIT)
        writer = self._loop_writer
        if writer is not None and writer.loop is asyncio.get_running_loop():
            self._loop_writer = None
            await writer.close()

    def close(self) -> None:
        """Close the database connections of the lane's and the bridge's threads, and end those threads."""
        for executor in (self._pool, self._wsgi.executor):
            threads_close(executor)

    # --- the units left: a copy of Django's answer, for a second ---------------------------------------------

    async def _copied(self, scope: Scope, receive: Receive, send: Send, environ: dict[str, Any]) -> None:
        """A GET of ``CACHED``: from the copy of Django's answer for its key (path, query, and the language, host and
        scheme Django would answer in) while it is fresh, with its ``Age``; else Django answers, and one request per
        key at a time keeps a copy of what it says while the others that meet it wait for that copy."""
        loop = asyncio.get_running_loop()
        key = (environ["PATH_INFO"], scope.get("query_string", b""), *self.fast.key_of(environ)[1])
        copy = self._copies.get(key)
        if copy is None or copy.expires <= loop.time():
            copying = self._copying.get(key)
            if copying is None:
                await self._copy(key, scope, receive, send)
                return
            await copying.wait()
            copy = self._copies.get(key)
            if copy is None or copy.expires <= loop.time():   # what Django said was not to keep: it answers this one
                await self.bridge(scope, receive, send)
                return
        self.stats["copied"] += 1
        age = str(int(loop.time() - copy.stored)).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [*copy.headers, (b"age", age)]})
        await send({"type": "http.response.body", "body": copy.body})

    async def _copy(self, key: tuple[object, ...], scope: Scope, receive: Receive, send: Send) -> None:
        """Django answers; the answer is passed on as it comes and kept (``_keepable``) for the key."""
        copying = self._copying[key] = asyncio.Event()
        loop = asyncio.get_running_loop()
        asked = loop.time()
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.bridge(scope, receive, keep)
            headers = [(bytes(k).lower(), bytes(v)) for k, v in start.get("headers", ())]
            keep_for = _keepable(int(start.get("status", 0)), headers, self.cache_seconds)
            if keep_for > 0:
                if len(self._copies) >= MAX_CACHED:
                    now = loop.time()
                    self._copies = {k: c for k, c in self._copies.items() if c.expires > now}
                    if len(self._copies) >= MAX_CACHED:
                        self._copies.clear()
                # fresh from when it was asked for: Django read the figures after that
                self._copies[key] = _Copy(headers, b"".join(chunks), asked, asked + keep_for)
        finally:
            del self._copying[key]
            copying.set()

    # --- a claim -------------------------------------------------------------------------------------------

    CLOSE_WAIT = 5.0

    def _overloaded(self) -> str:
        """Why a new claim is refused ("" if it is not): past the cap of claims in the lane; while saturated, past
        what it answers in ``ALLOT_LANE_TARGET_MS`` (``_Drain``); or the loop behind by more than
        ``ALLOT_LANE_MAX_LAG_MS``."""
        self._drain.arrived(asyncio.get_running_loop().time(), self.in_flight)
        if self.in_flight >= self.cap:
            return "busy"
        if self.in_flight >= self._drain.limit:
            return "busy:drain"
        lag = self._lag
        if lag is None or lag.loop is not asyncio.get_running_loop():
            lag = self._lag = _Lag(asyncio.get_running_loop())
        return "busy:late" if lag.seconds > self.max_lag else ""

    async def _claim(self, scope: Scope, receive: Receive, send: Send, environ: dict[str, Any], slug: str) -> None:
        refused = self._overloaded()
        if refused:
            if self._whole_sold_out(slug) or await self._sold_out_again(slug):
                # the truth, not "come back": once the kept "sold out" answer has expired (a quiet minute), a lane
                # starting again from its floor answered a few hundred residents of a sold-out campaign busy
                self.stats["sold out:refused"] += 1
                await self._sold_out(scope, receive, send, environ)
                return
            self.stats[refused] += 1
            self._drain.refused()
            await self._busy(scope, receive, send, environ)
            return
        self.in_flight += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = None
        try:
            answer = await self._claim_answer(scope, receive, send, environ, slug)
        finally:
            # before the answer is sent: a client that sends its next claim the moment it reads this answer must
            # not find this one still counted
            self.in_flight -= 1
            now = loop.time()
            took = now - started
            self._drain.answered(now, took if answer is not None and answer[0] == 201 else None)
            # for bench/surge.py: how long claims stay in the lane
            self.stats[f"lane<={next((b for b in _Lag.BUCKETS if took <= b), 9.0)}s"] += 1
        if answer is not None:
            status, headers, content = answer
            await send({"type": "http.response.start", "status": status,
                        "headers": [*headers, (b"content-length", str(len(content)).encode())]})
            await send({"type": "http.response.body", "body": content})

    async def _claim_answer(self, scope: Scope, receive: Receive, send: Send, environ: dict[str, Any],
                            slug: str) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The lane's answer to a claim (status, encoded headers but its length, body), or None once Django has
        answered it (or the client went away)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self.stats["django:length"] += 1
            await self.bridge(scope, receive, send)   # Django's own limits and answers
            return None
        body = await _read(receive, length)
        if body is None:
            return None
        language, key = self.fast.key_of(environ)
        headers = self.fast.learned(key) or await self._learned(key)
        if headers is None or len(body) != length:
            self.stats["django:learn"] += 1
            await self._learn(key, scope, _replay(receive, body), send)   # Django answers; the lane learns
            return None
        self._busy_ahead(scope, environ, body)
        now = timezone.now()
        prepared = await self._fields(body, slug, now)
        if prepared is _SOLD_OUT:
            await self._sold_out(scope, _replay(receive, body), send, environ)
            return None
        if not isinstance(prepared, tuple):
            self.stats["django:fields"] += 1
            await self.bridge(scope, _replay(receive, body), send)
            return None
        cc, fields = prepared
        status, content = await self._answer(cc, fields, language, environ, now)
        self.stats[str(status)] += 1
        return status, self._encoded(headers), content

    def _encoded(self, headers: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
        """Headers Django gave (learned, or of a replayed answer) as ASGI wants them, encoded once per header set
        (as the WSGI bridge encodes Django's)."""
        hit = self._encodings.get(id(headers))
        if hit is None or hit[0] is not headers:
            if len(self._encodings) > 64:
                self._encodings.clear()
            hit = self._encodings[id(headers)] = (headers, _encode_headers(headers))
        return hit[1]

    async def _learned(self, key: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
        """The headers of ``key`` once the claim that teaches them has been answered, if one is under way (at the
        opening every claim arrives before the first answer: without this wait all of them went to Django)."""
        teaching = self._teaching.get(key)
        if teaching is None:
            return None
        await teaching.wait()
        return self.fast.learned(key)

    async def _learn(self, key: tuple[str, ...], scope: Scope, receive: Receive, send: Send) -> None:
        teaching = self._teaching.get(key)
        if teaching is not None:   # another claim is teaching: this one goes to Django too, without waiting
            await self.bridge(scope, receive, send)
            return
        teaching = self._teaching[key] = asyncio.Event()
        try:
            await self.bridge(scope, receive, send)
        finally:
            del self._teaching[key]
            teaching.set()

    async def _busy(self, scope: Scope, receive: Receive, send: Send, environ: dict[str, Any]) -> None:
        entry = waitroom.plain_busy()
        busy = admission.busy_reply(environ)
        if busy is None:
            # Django builds the busy answer of this key (AdmissionWSGI, with this entry), for one request at a time:
            # the others meanwhile give the one it built last, or if it never built one, wait for it. (At a
            # campaign's opening every refusal went to Django until its first was built, a few hundred a process,
            # and they waited 0.3 s for its threads: bench/README.md, seventh session.)
            kept_as = admission.busy_key(environ)
            if kept_as in self._running:
                busy = admission.busy_reply(environ, expired=True)
            if busy is None:
                if await self._django_once(kept_as, {**scope, admission.FRONT_BUSY: entry}, receive, send):
                    return
                busy = admission.busy_reply(environ, expired=True)
        if busy is not None:
            # rendered and encoded once per answer Django built and Retry-After (a handful of values): under a
            # surge most answers are this one (bench/README.md, sixth session)
            key = (id(busy), entry.retry_after)
            hit = self._busy_answers.get(key)
            if hit is None or hit[0] is not busy:
                headers, body = busy.render(entry)   # Django's headers, then this answer's own
                encoded = [*self._encoded(busy.headers), *_encode_headers(headers[len(busy.headers):])]
                if len(self._busy_answers) > 256:
                    self._busy_answers.clear()
                hit = self._busy_answers[key] = (busy, int(busy.status[:3]), encoded, body)
            await send({"type": "http.response.start", "status": hit[1], "headers": hit[2]})
            await send({"type": "http.response.body", "body": hit[3]})
            return
        # Django did not keep one (an answer that sets a cookie): it answers this one too
        await self.bridge({**scope, admission.FRONT_BUSY: entry}, receive, send)

    def _busy_ahead(self, scope: Scope, environ: dict[str, Any], body: bytes) -> None:
        """Django builds the busy answer of this claim's key in the background (its answer dropped) if it has
        none yet, so that the lane has it before it must refuse a claim of the key. At an opening the first
        refusal came tens of milliseconds after the first claim, on a box whose cores were full: Django took up to
        0.34 s to build that answer, and every refusal of the process meanwhile waited for it (bench/README.md,
        eighth session)."""
        if admission.busy_reply(environ, expired=True) is not None:
            return
        key = admission.busy_key(environ)
        if key in self._running:
            return
        refused = {**scope, admission.FRONT_BUSY: waitroom.plain_busy()}
        self._background(self._django_once(key, refused, _ended(body), _dropped))

    async def _fields(self, body: bytes, slug: str, now: dt.datetime
                      ) -> tuple[selectors.ClaimCampaign, dict[str, Any]] | object | None:
        """``ClaimFastWSGI._fields`` on the loop: None where Django must answer; ``_SOLD_OUT`` where it answers
        early that the whole campaign is sold out for today (an answer it marks replayable)."""
        try:
            # orjson: a quarter of json.loads's time; what it refuses that json.loads takes (NaN, a lone surrogate)
            # goes to Django, whose answer is then the answer
            data = orjson.loads(body)
            fields = ClaimInPlain.model_validate(data).model_dump()
        except (ValueError, pydantic.ValidationError):   # JSONDecodeError (either's) is a ValueError
            return None
        cc = selectors.claim_campaign_cached(slug=slug)
        if cc is None:
            await self._warm(("campaign", slug), selectors.claim_campaign, slug=slug)   # NotFound: cached as None
            cc = selectors.claim_campaign_cached(slug=slug)
            if cc is None:   # no such campaign (or the cache already expired again): Django answers
                return None
        elif selectors.claim_campaign_refresh_due(slug=slug) and ("campaign", slug) not in self._running:
            # reloaded in a thread before it expires, while the claims go on with this entry
            self._background(self._warm(("campaign", slug), selectors.claim_campaign_refresh, slug=slug))
        campaign = cc.campaign
        city = campaign.city_id
        if city and gazetteer_refresh_due(city) and ("gazetteer", city) not in self._running:
            # the city's places, which a delivery claim's address is checked against: the same
            self._background(self._warm(("gazetteer", city), gazetteer_refresh, city))
        w = selectors.window(campaign, now)
        if w.state != "open":
            return None
        name = gate.scope_field(campaign.quota_scope)
        with gate.shared_reads_deferred():
            sold, whole = gate.sold_out_for(slug=campaign.slug, day=w.day,
                                            hint=gate.area_hint(data, name) if name else None)
        self._flags_read()
        if sold:
            return _SOLD_OUT if whole else None
        return cc, fields

    OPEN_DAY_SECONDS = 1.0

    def _whole_sold_out(self, slug: str) -> bool:
        """Whether this process's flags say the whole campaign ``slug`` is sold out for its open day: from what is
        cached, without I/O (a campaign not cached, or not open: False). Every refused claim asks this, so the
        campaign's open day is kept for ``OPEN_DAY_SECONDS``: working it out (time zones, the opening, the
        maintenance hours) was a third of the lane's own time for a refusal (bench/README.md, tenth session)."""
        cc = selectors.claim_campaign_cached(slug=slug)
        if cc is None:
            return False
        now = time.monotonic()
        kept = self._open_days.get(slug)
        if kept is not None and kept[0] is cc and kept[1] > now:
            day = kept[2]
        else:
            w = selectors.window(cc.campaign, timezone.now())
            day = w.day if w.state == "open" else None
            if len(self._open_days) > 64:
                self._open_days.clear()
            self._open_days[slug] = (cc, now + self.OPEN_DAY_SECONDS, day)
        if day is None:
            return False
        whole = gate.whole_sold_out_here(slug=cc.campaign.slug, day=day)
        if not whole:
            self._flags_read()
        return whole

    RECHECK_WAIT = 0.25
    RECHECK_WAIT_UNSEEN = 0.02

    async def _sold_out_again(self, slug: str) -> bool:
        """For a claim the lane refuses while its flags do not say the campaign ``slug`` is sold out: whether it
        still is, when this process learned it sold out (``gate.whole_sold_out_seen``). The flags are caches that
        lapse after a quiet spell of a few seconds (``gate.LOCAL_TTL``), and so do the kept "sold out" answer and the
        campaign; a lane starting again from its floor then told the crowd that came back "busy, come back" until a
        claim it held reached the writer — 139-417 residents a run of the benchmark's "sold out" loop
        (bench/README.md, twelfth and thirteenth sessions). So the record is asked once
        (``services.sold_out_recheck``, in a thread) for all the refusals that meet the question; they wait for its
        answer at most ``RECHECK_WAIT`` seconds. Once the record shows a unit left (an operator's top-up), the
        process forgets the sell-out, and the refusals of the next ``gate.UNSOLD_QUIET`` seconds ask no more.

        A process that never learned of the sell-out asks too, at most once per ``gate.UNSOLD_QUIET``: a crowd sent
        to it after the sell-out, once the flags' shared copy had lapsed (the load balancer's choice; in the
        benchmark, the generator's idle connections all on the other process while the line of returns lasted),
        was told "busy" by a lane at its floor — 38-92 residents in a quarter of the runs (bench/README.md,
        fifteenth session). At an opening that look finds units left and costs a refusal a few milliseconds once
        a second."""
        day = seen = gate.whole_sold_out_seen(slug=slug)
        if day is None:   # never learned here: the open day ``_whole_sold_out`` has just kept, if the campaign is open
            if not gate.recheck_due(slug=slug):   # a look found a unit left less than a second ago
                return False
            kept = self._open_days.get(slug)
            if kept is None or kept[0] is not selectors.claim_campaign_cached(slug=slug):
                # the campaign not in this process's cache (a process the crowd reaches for the first time): loaded
                # once, in a thread, for all the refusals that meet it
                await self._warm(("campaign", slug), selectors.claim_campaign, slug=slug)
                if self._whole_sold_out(slug):
                    return True
                kept = self._open_days.get(slug)
            day = kept[2] if kept is not None else None
            if day is None:
                return False
        task = self._rechecks.get(slug)
        if task is None:
            if not gate.recheck_due(slug=slug):   # a look found a unit left less than a second ago
                return False
            self.stats["sold out:rechecked"] += 1
            task = self._rechecks[slug] = self._background(self._in_thread(sold_out_recheck, slug=slug, day=day))

            def looked(done: asyncio.Future[bool]) -> None:
                self._rechecks.pop(slug, None)
                if done.cancelled() or done.exception() is not None or done.result():
                    return
                gate.recheck_found_units(slug=slug)   # whoever still waits for it, or none
                if seen is not None:
                    self.stats["sold out:forgotten"] += 1
                    gate.whole_sold_out_forget(slug=slug, day=day)

            task.add_done_callback(looked)
        try:
            # a process that learned the sell-out waits for the look; one that never did, only briefly: at an
            # opening the look finds units left, and the refusals that met it waited for nothing (with
            # RECHECK_WAIT: refused p50 27-71 ms against 17-75, p99 174-371 ms against 116-486 over six pairs)
            still = await asyncio.wait_for(asyncio.shield(task),
                                           self.RECHECK_WAIT if seen is not None else self.RECHECK_WAIT_UNSEEN)
        except TimeoutError:
            self.stats["sold out:recheck late" if seen is not None else "sold out:look pending"] += 1
            return False
        except Exception:
            logger.exception("claim lane: the sold-out recheck of %s failed", slug)
            return False
        return bool(still)

    REFRESH_AHEAD = 0.5

    def _sold_out_refresh(self, slug: str) -> None:
        """A "sold out" answer was replayed within ``REFRESH_AHEAD`` seconds of its end, which is when this
        process's flag lapses (``gate.LOCAL_TTL`` after it was set): the record is asked now, in a thread and not
        awaited (``services.sold_out_refresh``), at most once per ``REFRESH_AHEAD`` per campaign. While the
        campaign stays sold out its flag is set again before it lapses, so a crowd that goes on asking goes on
        being told "sold out for today". Before, each lapse let claims through to the writer to learn it again,
        and a lane back at its floor told the rest of the crowd "busy, come back": 38-159 answers in some runs of
        the benchmark's "sold out" loop (bench/README.md, thirteenth to fifteenth sessions)."""
        now = time.monotonic()
        last = self._refreshed.get(slug)
        if last is not None and now - last < self.REFRESH_AHEAD:
            return
        if len(self._refreshed) > 64:
            self._refreshed.clear()
        self._refreshed[slug] = now
        self.stats["sold out:refreshed"] += 1
        self._background(self._in_thread(sold_out_refresh, slug=slug)).add_done_callback(_log_failure)

    async def _sold_out(self, scope: Scope, receive: Receive, send: Send, environ: dict[str, Any]) -> None:
        """A claim the sold-out flag refuses: the answer Django keeps for its key (``admission.early_reply``, as
        ``__call__`` replays it); until there is one, one request of the key at a time has Django answer it and
        the others wait for that answer. (At the moment a campaign sold out, each process sent 70-170 claims
        through Django before the first answer was kept: bench/README.md, seventh session.)"""
        reply = admission.early_reply(environ)
        if reply is None:
            if await self._django_once(admission.early_key(environ), scope, receive, send):
                self.stats["django:sold out"] += 1
                return
            reply = admission.early_reply(environ)
            if reply is None:   # what Django said is not to be kept: it answers this one too
                self.stats["django:fields"] += 1
                await self.bridge(scope, receive, send)
                return
        self.stats["replayed"] += 1
        await self._replayed(reply, send)

    async def _replayed(self, reply: admission.AdmissionReply, send: Send) -> None:
        """An early answer Django kept, as it gave it."""
        await send({"type": "http.response.start", "status": int(reply.status[:3]),
                    "headers": self._encoded(reply.headers)})
        await send({"type": "http.response.body", "body": reply.body})

    async def _django_once(self, key: tuple[str, ...], scope: Scope, receive: Receive, send: Send) -> bool:
        """Django answers this request (True) unless it is answering another one of ``key`` now: then this one
        waits until that one is answered (False), and the caller answers it from what Django kept."""
        return await self._once(key, lambda: self.bridge(scope, receive, send)) is not _WAITED

    async def _once(self, key: tuple[object, ...], work: Callable[[], Awaitable[T]]) -> T | object:
        """``work()`` once for all the requests of ``key`` at the same moment: the first runs it and gets what it
        returns (or raises); the others wait until it has ended and get ``_WAITED``."""
        running = self._running.get(key)
        if running is not None:
            await running.wait()
            return _WAITED
        running = self._running[key] = asyncio.Event()
        try:
            return await work()
        finally:
            del self._running[key]
            running.set()

    async def _answer(self, cc: selectors.ClaimCampaign, fields: dict[str, Any], language: str,
                      environ: dict[str, Any], now: dt.datetime) -> tuple[int, bytes]:
        proof = fields.pop("altcha")
        kwargs: dict[str, Any] = {
            "campaign": cc.campaign, "request": ClaimRequest(**fields), "proof": proof,
            "client": Client(ip=str(environ.get("REMOTE_ADDR") or "")), "channel": Claim.Channel.API,
            "list_ids": cc.list_ids, "now": now}
        try:
            job = self._prepare_here(language, kwargs)
            if job is _COLD:
                # a cache of the process to fill (the day's quota row, the gazetteer…): one claim per campaign is
                # prepared in a thread, which fills it; the others that meet it meanwhile wait for that one and
                # are then checked on the loop (at the opening ~100 claims a process queued for the lane's four
                # threads at once and waited over a second)
                job = await self._once(("prepare", cc.campaign.pk),
                                       lambda: self._prepare_in_thread(language, kwargs))
                if job is _WAITED:
                    job = self._prepare_here(language, kwargs)
            if not isinstance(job, ClaimJob):   # refused (it must be counted), or still cold
                job = await self._prepare_in_thread(language, kwargs)
            assert isinstance(job, ClaimJob)
            await self._run(job)
            try:
                return 201, encode(claim_created_out(claim_result(job=job), cc.campaign))   # nothing to translate
            finally:
                job_release(job)
        except DomainError as exc:
            with translation.override(language):
                return exc.status, encode(error_body(exc))
        except Exception:
            logger.exception("Internal Server Error: %s", environ.get("PATH_INFO", ""))
            with translation.override(language):
                return 500, encode(server_error_body())

    def _prepare_here(self, language: str, kwargs: dict[str, Any]) -> ClaimJob | object:
        """The claim checked and built on the loop, counting nothing; ``_COLD`` when a cache must be filled first,
        ``_REFUSED`` when it is refused (it must then be counted: in a thread)."""
        try:
            with translation.override(language), gate.shared_reads_deferred():
                return claim_prepare(**kwargs, count_refused=False)
        except SynchronousOnlyOperation:
            return _COLD
        except DomainError:
            return _REFUSED
        finally:
            self._flags_read()

    def _background(self, work: Awaitable[T]) -> asyncio.Future[T]:
        """``work`` on the loop, not awaited by the caller (a reference kept until it ends)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _warm(self, key: tuple[object, ...], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """``fn`` in a thread to fill a cache, once for all the claims that need it at the same moment: the first
        runs it, the others wait for it. What it raises is not passed on: the caller reads the cache."""
        with contextlib.suppress(Exception):   # the cache says what it found; the claim goes on from there
            await self._once(key, lambda: self._in_thread(fn, *args, **kwargs))

    async def _prepare_in_thread(self, language: str, kwargs: dict[str, Any]) -> ClaimJob:
        self.stats["prepared in a thread"] += 1
        return await self._in_thread(self._prepare_counted, language, kwargs)

    @staticmethod
    def _prepare_counted(language: str, kwargs: dict[str, Any]) -> ClaimJob:
        """The claim prepared as Django's path prepares it (in a thread): a refusal is counted, then raised."""
        with translation.override(language):
            return claim_prepare(**kwargs)

    async def _run(self, job: ClaimJob) -> None:
        """The job through the process's claim writer; returns once it is done (``job.claim`` or ``job.error``)."""
        if not setting("ALLOT_CLAIM_GROUP_COMMIT", True):
            with contextlib.suppress(DomainError):   # it is on the job
                await self._in_thread(claim_run, job=job)
            return
        loop = asyncio.get_running_loop()
        if loop_writer.usable():   # PostgreSQL + Redis: the writer on this loop (allot/firstcome/loop_writer.py)
            writer = self._loop_writer
            if writer is None or writer.loop is not loop:
                writer = self._loop_writer = loop_writer.LoopWriter(loop, self._in_thread)
            await writer.write(job)
            return
        waker = self._waker
        if waker is None or waker.loop is not loop:
            waker = self._waker = _Waker(loop)
        done = waker.expect(job)
        claim_enqueue(job=job)
        await done

    async def _in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` in one of the lane's threads, with database connections handled as around a Django request."""
        def call() -> T:
            close_old_connections()
            try:
                return fn(*args, **kwargs)
            finally:
                close_old_connections()

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def _flags_read(self) -> None:
        """Read the sold-out flags' shared copy for the keys whose read was deferred, in a thread (not awaited); one
        read at a time, which takes every key deferred by then. Every claim and refusal that met a due read queued
        one of its own until a thread took the first: at a 10× opening 20-100 at once, each a thread's turn at the
        interpreter while the loop waited for it (bench/README.md, tenth session)."""
        reading = self._flags_reading
        if gate.deferred_reads_pending() and (reading is None or reading.done()):
            self._flags_reading = self._pool.submit(gate.deferred_reads_run)
            self._flags_reading.add_done_callback(_log_failure)
