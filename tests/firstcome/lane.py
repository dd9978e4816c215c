"""Driving the ASGI application of config/asgi.py (the claim lane and Django behind it) from tests, without a
server: an ASGI request is a coroutine call with a scope, a receive and a send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from a2wsgi import WSGIMiddleware
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

from allot.api.v1.claim_fast import ClaimFastWSGI
from allot.api.v1.claim_lane import ClaimLane, threads_close
from allot.core.admission import AdmissionWSGI
from allot.core.lean import LeanWSGIHandler
from tests.firstcome.hangzhou import SLUG
from tests.firstcome.test_admission_wsgi import CountingDjango

URL = f"/api/v1/campaigns/{SLUG}/claims"
Answer = tuple[int, dict[str, str], bytes]


class Served:
    """The application as config/asgi.py builds it, with both of its Django handlers counted: ``django`` (the full
    chain) and ``short`` (the claim API's short chain, behind the WSGI fast lane)."""

    def __init__(self, min_in_flight: int | None = 48) -> None:
        self.django = CountingDjango(WSGIHandler())
        self.short = CountingDjango(LeanWSGIHandler())
        self.fast = ClaimFastWSGI(self.short)
        self.wsgi = AdmissionWSGI(self.django, api_app=self.fast)
        # most tests send up to a few dozen claims at once to a fresh lane: it admits that many from the start
        # (``min_in_flight``); its slow start from ALLOT_LANE_MIN_IN_FLIGHT (None: the setting, 8) has tests of its own
        if min_in_flight is None:
            self.lane = ClaimLane(self.wsgi, fast=self.fast, threads=4)
        else:
            with override_settings(ALLOT_LANE_MIN_IN_FLIGHT=min_in_flight):
                self.lane = ClaimLane(self.wsgi, fast=self.fast, threads=4)

    @property
    def django_calls(self) -> int:
        return self.django.calls + self.short.calls

    def close(self) -> None:
        self.lane.close()


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served()
    yield s
    s.close()


@pytest.fixture
def plain() -> Iterator[Any]:
    """Django alone, the same WSGI application without the fast lanes, behind the same WSGI bridge (so that both
    answers are ASGI answers, their header names written alike)."""
    app = WSGIMiddleware(AdmissionWSGI(WSGIHandler(), api_app=LeanWSGIHandler()), workers=2)
    yield app
    threads_close(app.executor)


async def request(app: Any, body: dict[str, Any] | bytes | None = None, *, path: str = URL, method: str = "POST",
                  language: str = "zh-hans", host: str = "testserver",
                  headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        "headers": [(b"host", host.encode()), (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode()), (b"accept-language", language.encode()),
                    *[(k.lower().encode(), v.encode()) for k, v in headers]],
    }
    sent = False
    loop = asyncio.get_running_loop()

    def receive() -> asyncio.Future[dict[str, Any]]:
        # as granian's: an awaitable that is not a coroutine (a2wsgi's bridge needs one, and failed on this)
        nonlocal sent
        message = loop.create_future()
        if not sent:
            sent = True
            message.set_result({"type": "http.request", "body": raw, "more_body": False})
        else:   # the client stays until the answer
            loop.call_later(3600, message.set_result, {"type": "http.disconnect"})
        return message

    if not isinstance(app, ClaimLane):   # Django alone behind a2wsgi: as with a server whose receive is a coroutine
        raw_receive = receive

        async def receive() -> dict[str, Any]:
            return await raw_receive()

    answer: dict[str, Any] = {"body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode("latin1"): v.decode("latin1") for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"]


async def _closing(app: Any, coro: Any) -> Any:
    """``coro``, then the lane's writer of this event loop closed (its connections), as at a server's shutdown."""
    try:
        return await coro
    finally:
        if isinstance(app, ClaimLane):
            await app.aclose()


def call(app: Any, body: dict[str, Any] | bytes | None = None, **kw: Any) -> Answer:
    """One request, on an event loop of its own."""
    return asyncio.run(_closing(app, request(app, body, **kw)))


def call_many(app: Any, bodies: list[dict[str, Any]], **kw: Any) -> list[Answer]:
    """Requests all at once on one event loop, in the order given."""
    async def run() -> list[Answer]:
        return list(await asyncio.gather(*(request(app, b, **kw) for b in bodies)))

    return asyncio.run(_closing(app, run()))


def code(answer: Answer) -> str:
    return json.loads(answer[2])["errors"][0]["code"]
