"""The claim writer on the claim lane's event loop, for PostgreSQL with Redis: the same batch — one claim script call,
one statement — made with asyncio drivers, so that no second Python thread runs beside the loop.

Why: with the writer in a thread of its own, the loop's checks of a claim took half as much CPU again as with the
writer's work stubbed out (1,720 against 950 µs a claim in-process on the fifth session's machine): every batch
handed the interpreter back and forth between two threads on two cores. Here the loop awaits Redis and PostgreSQL
and does the writer's Python itself (docs/adr/0012-claim-lane.md).

It runs only the common case, and hands everything else to the process's thread writer, whose code decides as
before:

* the script's answers are sorted on the loop (``services.jobs_answered``); a day or an area Redis has not loaded
  yet, and flagging an area sold out (a cache write, and for a district or outlet quota a query), go to a thread;
* the batch statement is ``writer.pg_batch_sql`` on a connection of its own (autocommit: the statement is its own
  transaction, committed before any claim is answered); its answer is applied by ``writer.pg_batch_apply``;
* a statement that fails — a constraint its snapshot could not see, a dropped connection — rolls back, and its
  claims are written one by one in a thread, as the thread writer writes a failed batch; the claims the statement
  refused (sold out, already claimed) get their errors and give their units back in a thread too.

Redis down → every claim of the batch refused with 503 (``services.jobs_store_down``), nothing taken.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
from typing import Any

import hiredis
import psycopg
import redis.asyncio as aredis
from django.conf import settings
from django.db import connections
from django.db.utils import load_backend

from allot.firstcome import services, store
from allot.firstcome.writer import MAX_BATCH, BatchRefused, ClaimJob, pg_batch_apply, pg_batch_payload, pg_batch_sql

logger = logging.getLogger("allot.firstcome")


def usable() -> bool:
    """Whether claims go through this writer: PostgreSQL, Redis, group commit on."""
    return (default_vendor() == "postgresql" and store.enabled()
            and bool(getattr(settings, "ALLOT_CLAIM_GROUP_COMMIT", True))
            and bool(getattr(settings, "ALLOT_LANE_LOOP_WRITER", True)))


def default_vendor() -> str:
    """The default database's vendor, read from its backend's class, not from ``connections["default"]``: on an
    event loop Django's connections are kept per task (asgiref's ``Local``), so there every request's task built a
    ``DatabaseWrapper`` of its own — seven objects in a reference cycle, left to the garbage collector. At 10× a
    process collected some 30,000 such objects at once, its loop stopped for 130-150 ms, and the claims it held
    waited (bench/README.md, eighth session)."""
    return str(load_backend(connections.settings["default"]["ENGINE"]).DatabaseWrapper.vendor)


class HiredisPacked(aredis.Connection):
    """redis-py's asyncio connection, whose commands hiredis packs. redis-py's synchronous connection uses
    ``hiredis.pack_command`` when hiredis is installed; its asyncio one packs in Python, one argument at a time. A
    batch's script call has ~17 arguments a claim. For 20 claims (343 arguments) redis-py's asyncio packer took
    335 µs, hiredis 33 µs, on the claim lane's loop thread (bench/README.md, fourteenth session). The bytes are the
    same (``tests/firstcome/test_loop_writer.py``); what hiredis does not take goes to redis-py's packer."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " not in args[0] and not any(type(a) is float for a in args):
            # (floats: redis-py writes repr(), hiredis another form)
            try:
                return [hiredis.pack_command(args)]
            except TypeError:   # (a type hiredis does not pack)
                pass
        return list(super().pack_command(*args))


class LoopWriter:
    """One per event loop. ``write(job)`` returns once the job is done (``job.claim`` or ``job.error``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, in_thread: Any) -> None:
        self.loop = loop
        self._in_thread = in_thread      # the lane's: fn, *args → awaitable, with database connections handled
        self._queue: collections.deque[tuple[ClaimJob, asyncio.Future[None]]] = collections.deque()
        self._waiting = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pg: psycopg.AsyncConnection[Any] | None = None
        self._redis: Any = None
        self._script: Any = None
        self._url = ""
        self.batches = self.jobs = 0

    async def write(self, job: ClaimJob) -> None:
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._serve())
        done = self.loop.create_future()
        self._queue.append((job, done))
        self._waiting.set()
        await done

    async def warm(self) -> bool:
        """Open the Redis and PostgreSQL connections, load the claim script and prepare the batch statement (run
        with an empty batch: it writes nothing), so that the first batch does none of it. What fails is logged
        and left for the first batch to do again. Returns whether both are ready."""
        try:
            await self._redis_ready()
            await self._redis.script_load(store.CLAIM_BATCH)
            await self._execute(pg_batch_payload([]))
        except (aredis.RedisError, OSError, psycopg.Error) as exc:
            logger.warning("claim lane's writer could not warm up (its first batch will connect): %s", exc)
            await self._reset_pg()
            self._redis = None
            return False
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pg is not None:
            await self._pg.close()
        if self._redis is not None:
            await self._redis.aclose()

    # --- the loop ------------------------------------------------------------------------------------------

    async def _serve(self) -> None:
        while True:
            batch = await self._take()
            self.batches += 1
            self.jobs += len(batch)
            try:
                await self._batch([job for job, _done in batch])
            except Exception as exc:   # never leave a resident waiting
                logger.exception("claim lane's writer failed a batch")
                for job, _done in batch:
                    if job.error is None and job.outcome != "accepted":
                        job.error = exc
            for job, done in batch:
                job.done.set()
                if not done.done():
                    done.set_result(None)

    async def _take(self) -> list[tuple[ClaimJob, asyncio.Future[None]]]:
        """The next batch: up to ``MAX_BATCH`` queued jobs, one person at most once (a second claim of theirs
        waits for the next batch)."""
        while not self._queue:
            self._waiting.clear()
            await self._waiting.wait()
        batch: list[tuple[ClaimJob, asyncio.Future[None]]] = []
        later: list[tuple[ClaimJob, asyncio.Future[None]]] = []
        seen: set[tuple[int, dt.date, str]] = set()
        while self._queue and len(batch) < MAX_BATCH:
            item = self._queue.popleft()
            (later if item[0].key in seen else batch).append(item)
            seen.add(item[0].key)
        self._queue.extendleft(reversed(later))   # back to the front, in their order
        return batch

    async def _batch(self, jobs: list[ClaimJob]) -> None:
        takes = services.jobs_takes(jobs)
        try:
            answers = await self._take_batch(takes)
        except (aredis.RedisError, OSError) as exc:
            self._redis = None
            services.jobs_store_down(jobs, exc)
            return
        answered = services.jobs_answered(jobs, answers)
        if answered.sold_out:
            await self._in_thread(services.jobs_sold_out_mark, answered.sold_out)
        ready = answered.ready
        if answered.unloaded:
            loaded = await self._in_thread(
                lambda: [job for job, answer in answered.unloaded if services.jobs_take_loaded(job, answer)])
            taken = {id(job) for job in ready + loaded}
            ready = [job for job in jobs if id(job) in taken]
        if not ready:
            return
        try:
            rows = await self._execute(pg_batch_payload(ready))
            pg_batch_apply(ready, rows, "default")
        except (psycopg.Error, BatchRefused) as exc:
            logger.warning("claim batch of %d rolled back (%s); writing its claims one by one", len(ready), exc)
            await self._reset_pg()
            await self._in_thread(services.jobs_write_one_by_one, ready)
            return
        refused = [job for job in ready if job.outcome != "accepted"]
        if refused:
            await self._in_thread(services.jobs_after, refused)

    # --- the drivers ---------------------------------------------------------------------------------------

    async def _redis_ready(self) -> None:
        url = settings.REDIS_URL
        if self._redis is None or self._url != url:
            # (a rediss:// or unix:// address brings its own connection class, which takes precedence)
            self._redis = aredis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.5,
                                                connection_class=HiredisPacked)
            self._script = self._redis.register_script(store.CLAIM_BATCH)
            self._url = url

    async def _take_batch(self, takes: list[store.Take]) -> list[int]:
        await self._redis_ready()
        keys, args = store.take_batch_args(takes)
        return [int(v) for v in await self._script(keys=keys, args=args)]

    async def _execute(self, payload: str) -> list[Any]:
        if self._pg is None or self._pg.closed:
            params = dict(connections["default"].get_connection_params())
            for key in ("cursor_factory", "context", "prepare_threshold"):
                params.pop(key, None)
            self._pg = await psycopg.AsyncConnection.connect(**params, autocommit=True)
            self._pg.prepare_threshold = 2**31 - 1   # only the batch statement, prepared on request
        async with self._pg.cursor() as cursor:
            await cursor.execute(pg_batch_sql(), [payload], prepare=True)
            return await cursor.fetchall()

    async def _reset_pg(self) -> None:
        """After a failed statement: drop the connection if it is no longer usable."""
        if self._pg is not None and (self._pg.closed or self._pg.info.transaction_status
                                     == psycopg.pq.TransactionStatus.UNKNOWN):
            with contextlib.suppress(psycopg.Error):
                await self._pg.close()
            self._pg = None
