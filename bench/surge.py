"""Opening-time surge against the real server: first-come claims at 1× and 10× the load it sustains.

    python bench/surge.py                       # SQLite (embedded default), 2 granian processes
    python bench/surge.py --pg --redis          # PostgreSQL + Redis, 2 granian processes
    python bench/surge.py --server gunicorn     # the same under gunicorn (gthread)

What it does:

1. Creates a bench database (SQLite file under var/bench/, or the PostgreSQL database ``allot_bench`` on
   127.0.0.1:5432; ``--redis`` uses Redis database 14 on 127.0.0.1:6379, emptied first), migrates it and loads
   Hangzhou's districts and one first-come delivery campaign per run (city-wide quota, open now), its day
   prepared as the scheduler beside the server prepares it before an opening (quota rows, the day in Redis).
2. Starts the WSGI server (granian by default, as ``make demo`` serves) in its own process group on 127.0.0.1,
   with the production defaults of the claim path: proof of work on, rate limits on (only the per-address one
   lifted, since every request here comes from 127.0.0.1), group commit on, the waiting room as configured.
3. Calibrates: a closed loop of ``--conns`` keep-alive connections (default: as many as the in-flight slots)
   claims for ``--calibrate`` seconds against a quota that does not run out; the accepted claims per second is "1×".
4. Before each surge, as the residents' pages waiting for the opening do, asks for the units left for ``--polls``
   seconds (default 2; 16 connections, so that every process gets some: mostly answered from the lane's copy,
   about one a second per process by Django, which fills that process's campaign and quota-row caches).
   ``--polls 0``: every process meets the campaign cold at its first claim.
5. Runs the surge twice from a separate load-generator process (``bench/loadgen.c``, one epoll loop in C, built
   here with the machine's C compiler; ``--generator python``: asyncio protocols on uvloop, 2–4× its CPU
   a request; both raw HTTP/1.1 over keep-alive sockets, open loop: requests are sent on schedule whether or not
   earlier ones were answered, so a slow server shows as latency instead of hiding it): at 1× and at 10× the
   calibrated rate, for ``--seconds``,
   every request a different resident with a proof of work solved beforehand (``proofs``), against a quota of
   half the run's 1× capacity so that it sells out mid-run. A resident told 503 (busy) comes back when told —
   the waiting room's ``Allot-Queue-Wait-Ms`` with its ticket, else ``Retry-After`` — for up to 30 s after the
   arrivals stop.
6. Prints per run: accepted claims/s, "sold out" answers/s, p50/p95/p99 latency of accepted and of refused
   answers (measured from the moment the request was due, including any wait for a free connection), busy
   answers (with a place in line or not), 5xx other than the deliberate 503s, errors and timeouts, the load
   generator's own CPU and lag (a large lag means the generator, not the server, was the limit), and from the
   database at the end: oversell (claims − quota) and undersell (units left while residents who asked were
   refused).
7. Then measures how fast "sold out" is answered: a closed loop of ``--sold-out-conns`` connections against the
   sold-out campaign for ``--sold-out-seconds``; and how fast the units left are (``remaining.json``, which every
   resident's page asks every 5 s): the same closed loop of GETs.

It prints first three figures of the machine's speed (``machine_reference``: a Python loop, two threads passing a
token, a loopback TCP round trip), since boxes of one kind have run 2.5–3.5× apart. All traffic goes to
127.0.0.1. The load generator shares the machine's cores with the server (the C one 22–30 µs of CPU a request at
10×, the Python one 67–178 µs), so the server figures are a lower bound. ``--calibrate-only``
stops after the calibration (to compare two versions' throughput in many short runs). For each surge it also
prints the run second by second, and its first two seconds by 100 ms: answers, accepted claims and p50/p99
latency of the answers given in that step (the opening is where the tail is: bench/README.md, sixth session).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import heapq
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "allot_bench"
REDIS_BENCH_DB = 14
CODE_RE = re.compile(rb'"code":\s*"([a-z_]+)"')
_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(n: int) -> str:
    """A synthetic resident ID number with a valid check character (region 330106 西湖区, born 1985-2004: the
    region code must have existed in the birth year); distinct for 6,720,000 consecutive ``n``."""
    year = 1985 + (n // 336_000) % 20
    body = f"330106{year}{1 + (n // 1000) % 12:02d}{1 + (n // 12000) % 28:02d}{n % 1000:03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, _W, strict=True)) % 11]
    return body + check


def claim_body(n: int, proof: str = "") -> bytes:
    """The claim of synthetic resident ``n``, with ``proof`` (a solved proof of work, see ``proofs``) as ``altcha``."""
    return json.dumps({"altcha": proof,
        "name": "王五", "id_number": id_number(n), "phone": f"+86139{n % 100_000_000:08d}", "district": "330106",
        "street": "330106001000", "committee": "330106001001", "building": str(1 + n % 30), "unit": "2",
        "room": str(101 + n % 20), "consent": True}, ensure_ascii=False).encode()


# --- environment and server ----------------------------------------------------------------------------

def proofs(count: int, env: dict[str, str], no_proof: bool) -> list[str]:
    """Solved proofs of work for ``count`` claims, made with the server's secret key at the lowest difficulty
    (``allot.verification.proof.proofs_presolved``: ~70 µs each, before the run, in this process). The server
    checks and spends each exactly as it does a browser's; only the solving is skipped."""
    if no_proof:
        return []
    from allot.verification.proof import proofs_presolved

    return proofs_presolved(purpose="claim", count=count, secret_key=env["DJANGO_SECRET_KEY"])


def machine_reference() -> str:
    """Three figures of this machine's speed, printed before the runs, so that figures from machines of the same
    kind that ran at very different speeds are not compared as if they were one (bench/README.md, seventh
    session: one box of this kind ran Python 2-3 times slower than another)."""
    import threading

    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    loop_ms = (time.perf_counter() - started) * 1e3
    ping, pong, n = threading.Event(), threading.Event(), 2000

    def other() -> None:
        for _ in range(n):
            ping.wait()
            ping.clear()
            pong.set()

    thread = threading.Thread(target=other)
    thread.start()
    started = time.perf_counter()
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    thread.join()
    switch_us = (time.perf_counter() - started) / n * 1e6
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _address = listener.accept()
        with client, server:
            started = time.perf_counter()
            for _ in range(n):   # one byte there and back over loopback TCP, both ends in this thread
                client.send(b"x")
                server.recv(1)
                server.send(b"x")
                client.recv(1)
            tcp_us = (time.perf_counter() - started) / n * 1e6
    return (f"a Python loop of 2,000,000 additions {loop_ms:.0f} ms, two threads passing a token {switch_us:.0f} µs "
            f"a round trip, a loopback TCP round trip {tcp_us:.0f} µs")


def redis_url(args: argparse.Namespace) -> str:
    return f"redis://127.0.0.1:6379/{args.redis_db}"


def bench_env(args: argparse.Namespace) -> dict[str, str]:
    import base64

    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": os.environ.get("ALLOT_BENCH_SETTINGS", "config.settings.local"),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
        "ALLOT_BLIND_INDEX_KEY": base64.urlsafe_b64encode(b"b" * 32).decode(),
        "ALLOT_DATA_KEYS": "b1:" + base64.urlsafe_b64encode(b"d" * 32).decode(),
        "ALLOT_LOG_LEVEL": "ERROR",
        "ALLOT_ADMISSION_MAX_IN_FLIGHT": str(args.cap),
        "ALLOT_LANE_MAX_IN_FLIGHT": str(args.lane_cap),
        "ALLOT_WSGI_THREADS": str(args.threads),
        "ALLOT_LANE_STATS": "1",   # each server process prints what its claim lane answered when it stops
        # every request of the benchmark comes from 127.0.0.1, where a real surge comes from many thousand
        # addresses: the per-address claim limit (300 an hour) is lifted; the per-phone and per-ID limits stay
        "ALLOT_RATE_LIMITS": json.dumps({"claim": {"ip": [1_000_000_000, 3600]}}),
        "ALLOT_CLAIM_PROOF_CHANNELS": "" if getattr(args, "no_proof", False) else "web,api",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    })
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    if args.pg:
        # a psycopg pool per process, as large as the admission cap: threads share connections instead of one
        # connection per thread, which with 2 processes × 32 threads would crowd PostgreSQL's max_connections
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.pg_db}"
        env["DATABASE_POOL"] = "true"
        env["DATABASE_POOL_SIZE"] = str(args.cap)
    else:
        env["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench' / 'surge.sqlite3'}"
    env["REDIS_URL"] = redis_url(args) if args.redis else ""
    return env


def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> None:
    if args.pg:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {args.pg_db} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {args.pg_db}")
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(env["DATABASE_URL"].removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    if args.redis:
        import redis

        redis.Redis.from_url(redis_url(args)).flushdb()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def campaign_create(slug: str, quota: int) -> None:
    import datetime as dt

    from allot.campaigns.models import Campaign
    from allot.places.models import Division
    from allot.places.services import divisions_import, places_import_csv

    if not Division.objects.filter(code="3301").exists():
        divisions_import(province_code="33")
        places_import_csv(text="district_code,street_code,street_name,committee_code,committee_name\n"
                               "330106,330106001000,北山街道,330106001001,北山社区\n")
    from allot.firstcome.services import days_prepare

    Campaign.objects.create(
        slug=slug, name=f"surge {slug}", good="一次性医用口罩", units_per_winner=5, city_id="3301",
        status=Campaign.Status.ACTIVE, starts_on=dt.date(2020, 1, 1), mode=Campaign.Mode.FIRST_COME,
        fulfilment=Campaign.Fulfilment.DELIVERY, opens_at=dt.time(0, 0), quota_scope=Campaign.QuotaScope.CITY,
        daily_quota=quota, maintenance_start=None, maintenance_end=None)
    # what the scheduler beside the server does every 30 s (worker job firstcome_days): the day's quota rows
    # opened and, with Redis, the day loaded before the opening (until the sixth session the first claims did it)
    days_prepare()


def campaign_result(slug: str) -> tuple[int, int, int, int]:
    """(quota units, claims in the database, quota.taken, claims over their day's units), summed over the
    campaign's days: a run across midnight in the campaign's time zone (16:00 UTC for Asia/Shanghai) claims
    from two days' quotas."""
    from django.db.models import Count

    from allot.firstcome.models import Claim, Quota

    quotas = list(Quota.objects.filter(campaign__slug=slug))
    claims = dict(Claim.objects.filter(campaign__slug=slug).values_list("quota_id").annotate(n=Count("id")))
    over = sum(max(0, claims.get(q.pk, 0) - q.units) for q in quotas)
    return sum(q.units for q in quotas), sum(claims.values()), sum(q.taken for q in quotas), over


def midnight_wait(slug: str, seconds: float) -> None:
    """Wait past the campaign's midnight if a run of ``seconds`` would cross it: a new campaign day opens a new
    quota, and the run's oversell and undersell are counted against one day's units (a fourth-session run
    at 16:00 UTC, midnight in Asia/Shanghai, reported 449 "oversold" that were the next day's claims)."""
    import datetime as dt

    from allot.campaigns.models import Campaign

    tz = Campaign.objects.get(slug=slug).tz
    now = dt.datetime.now(tz)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0, 0), tzinfo=tz)
    left = (midnight - now).total_seconds()
    if left < seconds:
        print(f"  (waiting {left + 2:.0f} s for the campaign's midnight to pass)")
        time.sleep(left + 2)


def server_start(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    try:   # a server left over from an interrupted run would share the port (SO_REUSEPORT) and the load
        socket.create_connection(("127.0.0.1", args.port), timeout=0.5).close()
    except OSError:
        pass
    else:
        raise SystemExit(f"something already listens on 127.0.0.1:{args.port}: stop it first (pgrep -fa granian)")
    if args.server == "granian" and args.interface == "asgi":   # the claim lane in front (config/asgi.py, ADR 0012)
        cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "config.asgi:application", "--loop",
               args.loop, "--host", "127.0.0.1", "--port", str(args.port), "--workers", str(args.workers),
               "--backlog", "4096", "--no-ws", "--log-level", "warning"]
    elif args.server == "granian":   # the WSGI application alone, in granian's threads
        cmd = [sys.executable, "-m", "granian", "--interface", "wsgi", "config.wsgi:application", "--host",
               "127.0.0.1", "--port", str(args.port), "--workers", str(args.workers), "--blocking-threads",
               str(args.threads), "--backlog", "4096", "--no-ws", "--log-level", "warning"]
    else:
        cmd = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{args.port}",
               "--workers", str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads),
               "--backlog", "4096", "--keep-alive", "75", "--worker-connections", "4000", "--log-level", "warning"]
    log = (ROOT / "var" / "bench").joinpath("server.log").open("ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    server_stop(proc)
    raise SystemExit("the server did not start (var/bench/server.log)")


def _server_processes(proc: subprocess.Popen[bytes]) -> list[tuple[str, int, int, str]]:
    """(pid, resident KiB, open descriptors, descriptor limit) of each process of the server's process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) != proc.pid:
                continue
            rss = next(int(line.split()[1]) for line in (entry / "status").read_text().splitlines()
                       if line.startswith("VmRSS:"))
            fds = len(list((entry / "fd").iterdir()))
            limit = next(line.split()[3] for line in (entry / "limits").read_text().splitlines()
                         if line.startswith("Max open files"))
        except (OSError, ValueError, IndexError, StopIteration):
            continue
        found.append((entry.name, rss, fds, limit))
    return found


def server_cpu(proc: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) used so far by the server's processes (its process group), from /proc."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == proc.pid:
                ticks += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def server_peak(proc: subprocess.Popen[bytes], stop: Any, out: dict[str, int]) -> None:
    """Sample the server's processes every 0.2 s until ``stop`` is set: the largest total RSS (KiB) and the
    largest total of open file descriptors seen."""
    while not stop.wait(0.2):
        now = _server_processes(proc)
        out["rss_kib"] = max(out.get("rss_kib", 0), sum(p[1] for p in now))
        out["fds"] = max(out.get("fds", 0), sum(p[2] for p in now))


def server_resources(proc: subprocess.Popen[bytes]) -> str:
    """Resident memory and open file descriptors of the server's processes (its process group), from /proc."""
    return "; ".join(f"pid {pid}: {rss / 1024:.0f} MiB, {fds} of {limit} fds"
                     for pid, rss, fds, limit in sorted(_server_processes(proc)))


def server_stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


# --- the load generator (a separate process) -----------------------------------------------------------

@dataclass
class Sample:
    status: int
    code: str
    latency: float
    done_at: float
    lag: float = 0.0   # how late the generator itself sent the request (its own saturation, not the server's)
    queued: bool = False   # a busy answer that gave a place in the waiting room


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0
    final: dict[int, str] = field(default_factory=dict)   # person -> last answer
    started: float = 0.0
    connections: int = 0
    cpu_seconds: float = 0.0   # the generator process's own CPU time


# the answer's headers the generator reads (the others — security headers and the like — are not parsed)
_WANTED = re.compile(rb"\r\n(content-length|retry-after|allot-queue-token|allot-queue-wait-ms|connection):([^\r]*)",
                     re.IGNORECASE)


class ClientProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time, parsed by hand (StreamReader line by line and
    a ``wait_for`` timer per request cost the generator several times more CPU, and on two shared cores the
    generator's CPU is taken from the server)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, dict[bytes, bytes]]] | None = None
        self.sent_at = 0.0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        block = bytes(self.buf[:end])
        headers = {name.lower(): value.strip() for name, value in _WANTED.findall(block)}
        length = int(headers.get(b"content-length", b"0"))
        if len(self.buf) < end + 4 + length:
            return
        body = bytes(self.buf[end + 4:end + 4 + length])
        del self.buf[:end + 4 + length]
        status = int(block[9:12])   # "HTTP/1.1 201 …"
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result((status, body, headers))

    def expire(self, now: float, timeout: float) -> None:
        if self.waiter is not None and not self.waiter.done() and now - self.sent_at > timeout:
            self.waiter.set_exception(TimeoutError())
            if self.transport is not None:
                self.transport.abort()

    async def request(self, data: bytes) -> tuple[int, bytes, dict[bytes, bytes]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.sent_at = time.monotonic()
        self.transport.write(data)
        return await self.waiter


class Pool:
    """Up to ``limit`` connections; a request waits for a free one (that wait counts in its latency).
    Timeouts are found by one sweep every 100 ms instead of a timer per request."""

    def __init__(self, port: int, limit: int, timeout: float = 10.0) -> None:
        self.port, self.limit, self.timeout = port, limit, timeout
        self.idle: list[ClientProtocol] = []
        self.busy: set[ClientProtocol] = set()
        self.opened = 0
        self.open_now = 0
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.sweeper: asyncio.Task[None] | None = None

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for conn in list(self.busy):
                conn.expire(now, self.timeout)

    async def request(self, data: bytes) -> tuple[int, bytes, dict[bytes, bytes]]:
        if self.sweeper is None:
            self.sweeper = asyncio.ensure_future(self._sweep())
        conn = None
        while conn is None:
            while self.idle:
                c = self.idle.pop()
                if not c.closed:
                    conn = c
                    break
                self.open_now -= 1
            if conn is None and self.open_now < self.limit:
                self.open_now += 1
                try:
                    _t, conn = await asyncio.get_running_loop().create_connection(ClientProtocol, "127.0.0.1",
                                                                                  self.port)
                except BaseException:
                    self.open_now -= 1
                    raise
                self.opened += 1
            elif conn is None:
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self.waiting.append(fut)
                await fut
        self.busy.add(conn)
        try:
            status, body, headers = await conn.request(data)
        except BaseException:
            if conn.transport is not None:
                conn.transport.abort()
            self.open_now -= 1
            raise
        finally:
            self.busy.discard(conn)
            while self.waiting:
                fut = self.waiting.popleft()
                if not fut.done():
                    fut.set_result(None)
                    break
        if headers.get(b"connection", b"").lower() == b"close":
            if conn.transport is not None:
                conn.transport.close()
            self.open_now -= 1
        else:
            self.idle.append(conn)
        return status, body, headers

    def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()


_HEAD = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" \
        b"Accept-Language: zh-hans\r\n"


_GET_HEAD = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Language: zh-hans\r\n"

_PROOFS: dict[int, str] = {}   # person -> solved proof of work, in the load-generator process
_REQUESTS: dict[tuple[str, int], bytes] = {}   # (path, person) -> the request, built before the run starts


def claim_parts(path: str, person: int, proof: str) -> tuple[bytes, bytes]:
    """Resident ``person``'s claim: its request line and headers (each ending CRLF, without the blank line; a
    waiting-room ticket goes after them) and its body."""
    body = claim_body(person, proof)
    return _HEAD % (path.encode(), len(body)), body


def request_bytes(path: str, person: int, token: bytes = b"") -> bytes:
    if not token:
        built = _REQUESTS.get((path, person))
        if built is not None:
            return built
    head, body = claim_parts(path, person, _PROOFS.get(person, ""))
    extra = b"Allot-Queue-Token: " + token + b"\r\n" if token else b""
    return head + extra + b"\r\n" + body


def _code(payload: bytes) -> str:
    m = CODE_RE.search(payload)
    return m.group(1).decode() if m else ""


Retry = tuple[float, int, bytes]   # (when, person, waiting-room token)


async def _one(pool: Pool, path: str, person: int, due: float, result: LoadResult, timeout: float,
               retries: list[Retry], deadline: float, token: bytes = b"") -> None:
    lag = time.monotonic() - due
    try:
        status, payload, headers = await pool.request(request_bytes(path, person, token))
    except TimeoutError:
        result.timeouts += 1
        result.final[person] = "timeout"
        return
    except (OSError, ConnectionError, ValueError, IndexError):
        result.errors += 1
        result.final[person] = "error"
        return
    now = time.monotonic()
    code = "accepted" if status == 201 else (_code(payload) or f"http_{status}")
    result.samples.append(Sample(status=status, code=code, latency=now - due, done_at=now, lag=lag,
                                 queued=b"allot-queue-token" in headers))
    result.final[person] = code
    if status == 503:
        # a phone told "busy" comes back when told to — the waiting room's wait in milliseconds when it gave a
        # place in line, else Retry-After — with its ticket
        wait = int(headers.get(b"allot-queue-wait-ms", b"0") or 0) / 1000 or int(headers.get(b"retry-after", b"0")
                                                                                 or 0)
        if wait and now + wait < deadline:
            heapq.heappush(retries, (now + wait, person, headers.get(b"allot-queue-token", b"")))


def _spawn(tasks: set[asyncio.Task[None]], coro: Any) -> None:
    task = asyncio.ensure_future(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def open_loop(port: int, path: str, rate: float, seconds: float, first_person: int, conns: int,
                    timeout: float) -> LoadResult:
    pool = Pool(port, conns, timeout)
    cpu0 = time.process_time()
    result = LoadResult(started=time.monotonic())
    total = int(rate * seconds)
    deadline = result.started + seconds + 30   # residents in line keep coming back after the arrivals stop
    retries: list[Retry] = []
    tasks: set[asyncio.Task[None]] = set()
    i = 0
    while i < total or tasks or retries:
        now = time.monotonic()
        if now > deadline + timeout:
            break
        while i < total and result.started + i / rate <= now:   # everything due by now, in one go
            _spawn(tasks, _one(pool, path, first_person + i, result.started + i / rate, result, timeout, retries,
                               deadline))
            i += 1
        while retries and retries[0][0] <= now:
            t_due, person, token = heapq.heappop(retries)
            _spawn(tasks, _one(pool, path, person, t_due, result, timeout, retries, deadline, token))
        next_due = result.started + i / rate if i < total else now + 0.005
        await asyncio.sleep(max(0.0, min(next_due, retries[0][0] if retries else next_due) - time.monotonic()))
    pool.close()
    result.connections = pool.opened
    result.cpu_seconds = time.process_time() - cpu0
    return result


BUSY_PAUSE = 0.05   # closed loop: a connection told "busy" asks again after this, not after Retry-After — it
                    # measures what the server sustains; sleeping 1-3 s per busy answer under-measured it


async def closed_loop(port: int, path: str, seconds: float, first_person: int, conns: int) -> LoadResult:
    pool = Pool(port, conns)
    cpu0 = time.process_time()
    result = LoadResult(started=time.monotonic())
    end = result.started + seconds
    counter = iter(range(first_person, first_person + 10_000_000))

    async def worker() -> None:
        token = b""
        person = next(counter)
        while time.monotonic() < end:
            due = time.monotonic()
            retries: list[Retry] = []
            await _one(pool, path, person, due, result, 10.0, retries, end, token)
            if retries:  # told 503 busy: ask again soon (a capacity measurement, not a phone: see closed_loop)
                await asyncio.sleep(min(BUSY_PAUSE, max(0.0, retries[0][0] - time.monotonic())))
                token = retries[0][2]
            else:
                token, person = b"", next(counter)

    await asyncio.gather(*(worker() for _ in range(conns)))
    pool.close()
    result.connections = pool.opened
    result.cpu_seconds = time.process_time() - cpu0
    return result


async def get_loop(port: int, path: str, seconds: float, first_person: int, conns: int) -> LoadResult:
    """A closed loop of ``GET path`` on ``conns`` connections: each sends the next as soon as it has an answer."""
    pool = Pool(port, conns)
    cpu0 = time.process_time()
    result = LoadResult(started=time.monotonic())
    end = result.started + seconds
    data = _GET_HEAD % path.encode() + b"\r\n"

    async def worker() -> None:
        while time.monotonic() < end:
            due = time.monotonic()
            try:
                status, _payload, _headers = await pool.request(data)
            except (OSError, ConnectionError, ValueError, IndexError, TimeoutError):
                result.errors += 1
                continue
            now = time.monotonic()
            result.samples.append(Sample(status=status, code=str(status), latency=now - due, done_at=now))

    await asyncio.gather(*(worker() for _ in range(conns)))
    pool.close()
    result.connections = pool.opened
    result.cpu_seconds = time.process_time() - cpu0
    return result


def _load_process(kind: str, kwargs: dict[str, Any], out: Any) -> None:
    import resource

    proofs = kwargs.pop("proofs", [])
    _PROOFS.update(enumerate(proofs, start=kwargs["first_person"]))
    # every request of the run built before it starts: the generator shares the server's cores, and building a
    # body per request was a tenth of its CPU
    for person in _PROOFS:
        _REQUESTS[(kwargs["path"], person)] = request_bytes(kwargs["path"], person)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    coro = (closed_loop(**kwargs) if kind == "closed" else get_loop(**kwargs) if kind == "get"
            else open_loop(**kwargs))
    try:
        import uvloop  # optional (bench extra): a faster event loop leaves more of the shared cores to the server

        result = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    out.send(result)
    out.close()


GENERATOR = {"kind": "c"}   # bench/loadgen.c (built here with the machine's cc), or "python" (the asyncio one above)
LOADGEN_SRC = ROOT / "bench" / "loadgen.c"
LOADGEN_BIN = ROOT / "var" / "bench" / "loadgen"
_RECORD = struct.Struct("<IhBB24sddd")   # loadgen.c's struct record


def loadgen_build() -> Path | None:
    """bench/loadgen.c compiled to var/bench/loadgen (again when the source is newer); None without a C compiler."""
    if LOADGEN_BIN.exists() and LOADGEN_BIN.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime:
        return LOADGEN_BIN
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    LOADGEN_BIN.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([cc, "-O2", "-o", str(LOADGEN_BIN), str(LOADGEN_SRC)], check=True)
    return LOADGEN_BIN


def _run_c(binary: Path, kind: str, port: int, path: str, seconds: float, first_person: int, conns: int,
           proofs: list[str] | None = None, rate: float = 0.0, timeout: float = 10.0, warm: int = 0) -> LoadResult:
    """The same run as the Python generator's, by bench/loadgen.c: the requests are written to a file first
    (request ``i`` is resident ``first_person + i``), its answers read back as records."""
    solved = proofs or []
    if kind == "get":
        count = 1
    elif kind == "open":
        count = int(rate * seconds) + 1
    else:   # a closed loop asks for as many residents as the server answers: past the proofs, claims go without one
        count = max(len(solved), int(20_000 * seconds))
    work = Path(tempfile.mkdtemp(prefix="loadgen-", dir=LOADGEN_BIN.parent))
    try:
        with (work / "requests").open("wb") as f:
            f.write(struct.pack("<I", count))
            for i in range(count):
                head, body = ((_GET_HEAD % path.encode(), b"") if kind == "get" else
                              claim_parts(path, first_person + i, solved[i] if i < len(solved) else ""))
                f.write(struct.pack("<I", len(head)) + head + struct.pack("<I", len(body)) + body)
        started = time.monotonic()
        done = subprocess.run([str(binary), kind, str(port), str(work / "requests"), str(work / "answers"),
                               repr(rate), repr(seconds), str(conns), repr(timeout), "30", repr(BUSY_PAUSE),
                               str(warm)],
                              capture_output=True)
        if done.returncode != 0:
            raise SystemExit(f"bench/loadgen.c failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
        info = json.loads(done.stdout)
        result = LoadResult(started=started, connections=info["connections"], cpu_seconds=info["cpu_seconds"])
        for idx, status, queued, n, code_b, latency, done_at, lag in _RECORD.iter_unpack(
                (work / "answers").read_bytes()):
            person = first_person + idx
            if status == 0:
                result.errors += 1
                result.final[person] = "error"
                continue
            if status == -1:
                result.timeouts += 1
                result.final[person] = "timeout"
                continue
            if kind == "get":
                code = str(status)
            else:
                code = "accepted" if status == 201 else (code_b[:n].decode() or f"http_{status}")
            result.samples.append(Sample(status=status, code=code, latency=latency, done_at=started + done_at,
                                         lag=lag, queued=bool(queued)))
            result.final[person] = code
        if info["ran_out"]:
            print(f"  (the C generator ran out of its {count} residents before the end of the run)")
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_load(kind: str, **kwargs: Any) -> LoadResult:
    if GENERATOR["kind"] == "c":
        binary = loadgen_build()
        if binary is not None:
            return _run_c(binary, kind, **kwargs)
        if kwargs.get("warm"):
            raise SystemExit("--warm-conns needs the C generator (a C compiler)")
        print("  (no C compiler: the Python generator instead)")
        GENERATOR["kind"] = "python"
    if kwargs.pop("warm", 0):
        raise SystemExit("--warm-conns needs the C generator (--generator c)")
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_load_process, args=(kind, kwargs, child))
    proc.start()
    result: LoadResult = parent.recv()
    proc.join()
    return result


# --- report --------------------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> str:
    if not values:
        return "-"
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return f"{values[k] * 1000:.1f}"


def timeline(r: LoadResult, step: float = 1.0, until: float = float("inf")) -> list[dict[str, Any]]:
    """The run in steps of ``step`` seconds (by when the answers came), up to ``until``: where in the run the
    latency was."""
    if not r.samples:
        return []
    start = min(s.done_at - s.latency for s in r.samples)
    by: dict[int, list[Sample]] = collections.defaultdict(list)
    for s in r.samples:
        if s.done_at - start < until:
            by[int((s.done_at - start) / step)].append(s)
    return [{"s": round(k * step, 3), "answers": len(v), "accepted": sum(1 for x in v if x.status == 201),
             "p50_ms": pct([x.latency for x in v], 50), "p99_ms": pct([x.latency for x in v], 99)}
            for k, v in sorted(by.items())]


def report(title: str, r: LoadResult, quota: int, db_claims: int, db_taken: int, oversold: int, offered: float,
           seconds: float) -> dict[str, Any]:
    accepted = [s for s in r.samples if s.status == 201]
    refused = [s for s in r.samples if s.status != 201]
    sold = [s for s in r.samples if s.code == "sold_out"]
    deliberate = {"busy", "temporarily_unavailable"}
    other_5xx = [s for s in r.samples if s.status >= 500 and s.code not in deliberate]
    busy = [s for s in r.samples if s.code == "busy"]
    queued = sum(s.queued for s in busy)
    still_waiting = sum(1 for v in r.final.values() if v == "busy")
    acc_rate = 0.0
    if len(accepted) > 1:
        span = max(s.done_at for s in accepted) - min(s.done_at for s in accepted)
        acc_rate = len(accepted) / span if span > 0 else float("nan")
    sold_rate = 0.0
    if len(sold) > 1:
        span = max(s.done_at for s in sold) - min(s.done_at for s in sold)
        sold_rate = len(sold) / span if span > 0 else float("nan")
    left = max(0, quota - db_claims)
    refused_people = sum(1 for v in r.final.values() if v != "accepted")
    codes: dict[str, int] = {}
    for s in r.samples:
        codes[s.code or str(s.status)] = codes.get(s.code or str(s.status), 0) + 1
    row = {
        "run": title, "offered_rps": round(offered), "requests": len(r.samples) + r.errors + r.timeouts,
        "accepted_http": len(accepted), "accepted_db": db_claims, "quota": quota,
        "accepted_per_s": round(acc_rate), "sold_out_per_s": round(sold_rate),
        "lat_accepted_ms": (pct([s.latency for s in accepted], 50), pct([s.latency for s in accepted], 95),
                            pct([s.latency for s in accepted], 99)),
        "lat_refused_ms": (pct([s.latency for s in refused], 50), pct([s.latency for s in refused], 95),
                           pct([s.latency for s in refused], 99)),
        "lat_all_max_ms": pct([s.latency for s in r.samples], 100),
        "busy_503": len(busy), "busy_with_place_in_line": queued, "still_in_line_at_end": still_waiting,
        "other_5xx": len(other_5xx), "errors": r.errors, "timeouts": r.timeouts,
        "oversell": oversold, "undersell": min(left, refused_people),
        "http_vs_db_mismatch": len(accepted) - db_claims, "taken_vs_claims_mismatch": db_taken - db_claims,
        "connections": r.connections, "answers": codes,
        "generator_lag_p99_ms": pct([s.lag for s in r.samples], 99), "generator_cpu_s": round(r.cpu_seconds, 1),
    }
    print(f"\n== {title}: offered {offered:.0f} req/s for {seconds:.0f} s, quota {quota}")
    print(f"  requests {row['requests']} ({r.connections} connections); answers {codes}")
    print(f"  accepted: {len(accepted)} (database: {db_claims}, quota.taken {db_taken}) at {acc_rate:.0f} claims/s")
    print(f"  'sold out' answers: {len(sold)} at {sold_rate:.0f}/s")
    print("  latency ms p50/p95/p99  accepted: {}/{}/{}   refused: {}/{}/{}   max(all): {}".format(
        *row["lat_accepted_ms"], *row["lat_refused_ms"], row["lat_all_max_ms"]))
    print(f"  deliberate 503 busy: {len(busy)} ({queued} with a place in line; {still_waiting} residents still in line "
          f"at the end); other 5xx: {len(other_5xx)}; client errors: {r.errors}; "
          f"timeouts: {r.timeouts}")
    print(f"  load generator: {r.cpu_seconds:.1f} s CPU; p99 of its own lag in sending "
          f"{row['generator_lag_p99_ms']} ms (large = the generator, not the server, was the limit)")
    print(f"  oversell: {row['oversell']}   undersell: {row['undersell']} (units left {left}, "
          f"residents refused {refused_people})")
    row["timeline"] = timeline(r)
    print("  by second (answers done in it: how many, accepted, p50/p99 ms of all): " + "; ".join(
        f"{t['s']}s {t['answers']} {t['accepted']} {t['p50_ms']}/{t['p99_ms']}" for t in row["timeline"]))
    row["opening"] = timeline(r, 0.1, 2.0)
    print("  the first 2 s by 100 ms (the same): " + "; ".join(
        f"{t['s']}s {t['answers']} {t['accepted']} {t['p50_ms']}/{t['p99_ms']}" for t in row["opening"]))
    return row


# --- main ----------------------------------------------------------------------------------------------

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pg", action="store_true", help="PostgreSQL (database allot_bench on 127.0.0.1:5432)")
    p.add_argument("--redis", action="store_true", help="Redis (database 14 on 127.0.0.1:6379)")
    p.add_argument("--pg-db", default=PG_BENCH_DB, help="PostgreSQL database to (re)create (default allot_bench)")
    p.add_argument("--redis-db", type=int, default=REDIS_BENCH_DB,
                   help="Redis database number, emptied first (default 14)")
    p.add_argument("--workers", type=int, default=None, help="server processes (default 2, as make demo)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads per process (default cap + 2: a few to refuse with, more only add GIL convoys)")
    p.add_argument("--cap", type=int, default=None,
                   help="in-flight claim requests per process (admission; default 8)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--server", choices=("gunicorn", "granian"), default="granian", help="server")
    p.add_argument("--interface", choices=("asgi", "wsgi"), default="asgi",
                   help="granian: asgi (config/asgi.py: the claim lane, Django in threads; as make demo serves) or "
                        "wsgi (config/wsgi.py alone); gunicorn serves wsgi")
    p.add_argument("--loop", choices=("uvloop", "asyncio", "auto"), default="uvloop",
                   help="granian's event loop (asgi)")
    p.add_argument("--lane-cap", type=int, default=48,
                   help="claims per process waiting in the claim lane at most (ALLOT_LANE_MAX_IN_FLIGHT; asgi)")
    p.add_argument("--conns", type=int, default=None,
                   help="keep-alive connections for the calibration (default: processes × cap; a connection told "
                        "503 waits Retry-After)")
    p.add_argument("--max-conns", type=int, default=2000, help="connection limit of the open-loop generator")
    p.add_argument("--warm-conns", type=int, default=0,
                   help="connections the open-loop generator opens before each surge (as a front proxy holds its pool "
                        "to the app servers; C generator only). Default 0: each is opened when a request finds none "
                        "idle, so a 10x surge starts with a storm of new connections")
    p.add_argument("--calibrate", type=float, default=5.0, help="seconds of closed-loop calibration")
    p.add_argument("--calibrate-only", action="store_true", help="stop after the calibration")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of each surge")
    p.add_argument("--rate", type=float, default=None, help="skip calibration: 1× in requests per second")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--sold-out-seconds", type=float, default=4.0, help="seconds of the sold-out closed loop")
    p.add_argument("--sold-out-conns", type=int, default=64, help="connections of the sold-out closed loop")
    p.add_argument("--generator", choices=("c", "python"), default="c",
                   help="load generator: c (bench/loadgen.c, built with the machine's cc; 22-30 µs of CPU a "
                        "request at 10x) or python (asyncio on uvloop; 67-178 µs a request, which on two cores is "
                        "taken from the server)")
    p.add_argument("--polls", type=float, default=2.0,
                   help="seconds of units-left polls (16 connections) before each surge, as the residents' pages "
                        "waiting for the opening send them (0: none, every process meets the campaign cold)")
    p.add_argument("--no-proof", action="store_true",
                   help="claims without a proof of work (ALLOT_CLAIM_PROOF_CHANNELS empty), to see what it costs")
    args = p.parse_args()
    GENERATOR["kind"] = args.generator
    if args.workers is None:   # as `make demo` serves (SQLite writers take turns: core.locking.sqlite_write_queue)
        args.workers = 2
    if args.cap is None:   # group commit (ADR 0009) writes the claims in flight together: more of them, bigger batches
        args.cap = 12
    if args.threads is None:
        args.threads = args.cap + 2
    if args.server == "gunicorn":
        args.interface = "wsgi"
    if args.conns is None:   # as many as the slots: a closed loop that is told "busy" sleeps and under-measures
        args.conns = args.workers * (args.lane_cap if args.interface == "asgi" else args.cap)
    env = bench_env(args)
    served = (f"{args.server} {args.interface} ({args.loop}), claim lane cap {args.lane_cap} per process, Django in "
              f"{args.threads} threads" if args.interface == "asgi" else
              f"{args.server} wsgi, {args.threads} threads, admission cap {args.cap} per process")
    print(f"surge: {'PostgreSQL' if args.pg else 'SQLite'}{' + Redis' if args.redis else ''}, {args.workers} "
          f"process(es), {served}, {os.cpu_count()} cores, load generator: {args.generator}")
    print(f"machine: {machine_reference()}")
    prepare_database(args, env)
    django_setup(env)
    path = "/api/v1/campaigns/{}/claims"
    rows = []
    log = ROOT / "var" / "bench" / "server.log"
    log_start = log.stat().st_size if log.exists() else 0
    server = server_start(args, env)
    try:
        rate = args.rate
        if rate is None:
            campaign_create("surge-calibrate", 10_000_000)
            # enough for 10,000 new residents a second (~70 µs each to make); past them claims go without a proof
            solved = proofs(int(10_000 * args.calibrate), env, args.no_proof)
            cpu0 = server_cpu(server)
            r = run_load("closed", port=args.port, path=path.format("surge-calibrate"), seconds=args.calibrate,
                         first_person=0, conns=args.conns, proofs=solved)
            cpu = server_cpu(server) - cpu0
            accepted = [s for s in r.samples if s.status == 201]
            rate = len(accepted) / args.calibrate
            print(f"\ncalibration: closed loop, {args.conns} connections, {args.calibrate:.0f} s: "
                  f"{len(accepted)} accepted ({rate:.0f}/s), answers "
                  f"{ {c: sum(1 for s in r.samples if s.code == c) for c in {s.code for s in r.samples}} }; "
                  f"server CPU {cpu:.1f} s, {cpu / max(1, len(accepted)) * 1e3:.2f} ms per accepted claim")
            if any(s.code == "altcha_required" for s in r.samples) and not args.no_proof:
                print("  (the calibration ran out of solved proofs: claims went without one, and the rate is low)")
        for factor, first in ((1, 2_000_000), (10, 4_000_000)) if not args.calibrate_only else ():
            slug = f"surge-{factor}x"
            quota = max(10, int(rate * args.seconds / 2))
            campaign_create(slug, quota)
            offered = rate * factor
            stop, peak = threading.Event(), {}
            sampler = threading.Thread(target=server_peak, args=(server, stop, peak), daemon=True)
            sampler.start()
            solved = proofs(int(offered * args.seconds) + 1, env, args.no_proof)
            midnight_wait(slug, args.seconds + 40)
            if args.polls > 0:   # the residents' pages before the opening: they ask for the units left
                run_load("get", port=args.port, path=f"/c/{slug}/claim/remaining.json", seconds=args.polls,
                         first_person=0, conns=16)
            # a mark to start a profiler on (the "== {factor}x" report comes after the surge has ended)
            print(f"-- {factor}x surge starts: {offered:.0f} req/s for {args.seconds:.0f} s", flush=True)
            r = run_load("open", port=args.port, path=path.format(slug), rate=offered, seconds=args.seconds,
                         first_person=first, conns=args.max_conns, timeout=args.timeout, proofs=solved,
                         warm=min(args.warm_conns, args.max_conns))
            stop.set()
            sampler.join()
            units, claims, taken, oversold = campaign_result(slug)
            rows.append(report(f"{factor}x", r, units or quota, claims, taken, oversold, offered, args.seconds))
            rows[-1]["server_resources"] = server_resources(server)
            rows[-1]["server_peak"] = peak
            print(f"  server during the run, at most: {peak.get('rss_kib', 0) / 1024:.0f} MiB resident, "
                  f"{peak.get('fds', 0)} open fds (all its processes); after: {rows[-1]['server_resources']}")
        if not args.calibrate_only:
            # how fast "sold out" is answered once it is: a closed loop of many connections, as fast as they go
            r = run_load("closed", port=args.port, path=path.format("surge-10x"), seconds=args.sold_out_seconds,
                         first_person=8_000_000, conns=args.sold_out_conns,
                         proofs=proofs(int(50_000 * args.sold_out_seconds), env, args.no_proof))
            sold = [x for x in r.samples if x.code == "sold_out"]
            rate_sold = len(sold) / args.sold_out_seconds
            lat = sorted(x.latency for x in sold)
            print(f"\n== sold out, closed loop of {args.sold_out_conns} connections for {args.sold_out_seconds:.0f} s: "
                  f"{len(sold)} 'sold out' answers, {rate_sold:.0f}/s; other answers "
                  f"{len(r.samples) - len(sold)} {dict(Counter(x.code for x in r.samples if x.code != 'sold_out'))}, "
                  f"errors {r.errors}; latency p50/p99 {pct(lat, 50)}/{pct(lat, 99)} ms; "
                  f"generator {r.cpu_seconds:.1f} s CPU")
            rows.append({"run": "sold_out_closed_loop", "sold_out_per_s": round(rate_sold),
                         "other": len(r.samples) - len(sold), "errors": r.errors,
                         "lat_ms_p50_p99": (pct(lat, 50), pct(lat, 99)), "generator_cpu_s": round(r.cpu_seconds, 1)})
            # how fast the units left are answered (every resident's page asks every 5 s)
            r = run_load("get", port=args.port, path="/c/surge-10x/claim/remaining.json", seconds=args.sold_out_seconds,
                         first_person=0, conns=args.sold_out_conns)
            ok = [x for x in r.samples if x.status == 200]
            lat = sorted(x.latency for x in ok)
            print(f"\n== units left (GET remaining.json), closed loop of {args.sold_out_conns} connections for "
                  f"{args.sold_out_seconds:.0f} s: {len(ok) / args.sold_out_seconds:.0f}/s answered 200; other answers "
                  f"{dict(Counter(x.status for x in r.samples if x.status != 200))}, errors {r.errors}; "
                  f"latency p50/p99 "
                  f"{pct(lat, 50)}/{pct(lat, 99)} ms; generator {r.cpu_seconds:.1f} s CPU")
            rows.append({"run": "remaining_closed_loop", "answered_per_s": round(len(ok) / args.sold_out_seconds),
                         "other": len(r.samples) - len(ok), "errors": r.errors,
                         "lat_ms_p50_p99": (pct(lat, 50), pct(lat, 99)), "generator_cpu_s": round(r.cpu_seconds, 1)})
    finally:
        server_stop(server)
    with log.open("rb") as f:   # what each process's claim lane answered, by kind, and how late its loop ran
        f.seek(log_start)
        for line in f.read().decode(errors="replace").splitlines():
            if line.startswith("claim lane "):
                print(f"  {line}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": rows}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
