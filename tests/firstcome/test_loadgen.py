"""bench/loadgen.c, the surge benchmark's load generator: built with the machine's C compiler and run against a
small HTTP server whose answers are known, it must report every answer as it was given — status, code, a place in
line — send a resident told busy back when told with the ticket it was given, keep its schedule in an open loop,
and count a request that is not answered in time as a timeout. The benchmark's figures rest on this."""

from __future__ import annotations

import json
import socketserver
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import surge  # noqa: E402  (bench/surge.py: the generator's driver)


class _Handler(BaseHTTPRequestHandler):
    """Resident n (from the phone number in the claim): n % 4 == 0 is told busy with a place in line (wait 200 ms)
    and accepted when it comes back with that ticket; 1 is told sold out; 2 accepted; 3 answered after 1.5 s."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[int, str, float]] = []   # (resident, ticket sent, when)

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        n = int(body["phone"][-8:])
        ticket = self.headers.get("Allot-Queue-Token", "")
        self.seen.append((n, ticket, time.monotonic()))
        extra: dict[str, str] = {}
        if n % 4 == 0 and ticket != f"t{n}":
            status, answer = 503, {"errors": [{"field": "", "code": "busy", "message": "稍后再试"}]}
            extra = {"Retry-After": "1", "Allot-Queue-Token": f"t{n}", "Allot-Queue-Wait-Ms": "200"}
        elif n % 4 == 1:
            status, answer = 409, {"errors": [{"field": "", "code": "sold_out", "message": "今日已领完"}]}
        else:
            if n % 4 == 3:
                time.sleep(1.5)
            status, answer = 201, {"number": f"C{n}"}
        data = json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], BrokenPipeError):   # the generator hung up on a slow answer: expected
            super().handle_error(request, client_address)


@pytest.fixture
def server() -> Iterator[int]:
    _Handler.seen = []
    s = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    yield s.server_address[1]
    s.shutdown()
    s.server_close()


@pytest.fixture(scope="module")
def binary() -> Path:
    built = surge.loadgen_build()
    assert built is not None, "bench/loadgen.c needs a C compiler (cc or gcc)"
    return built


def test_the_open_loop_reports_every_answer_and_sends_the_busy_back_with_their_ticket(binary, server):
    # when: 40 residents in 1 s (one every 25 ms), answers taking up to 1.5 s, a timeout of 1 s
    r = surge._run_c(binary, "open", port=server, path="/claims", seconds=1.0, first_person=0, conns=100,
                     rate=40, timeout=1.0)

    # then: each resident's last answer is the one its kind was given
    assert len(r.final) == 40
    for person, last in r.final.items():
        assert last == {0: "accepted", 1: "sold_out", 2: "accepted", 3: "timeout"}[person % 4], person
    assert r.timeouts == 10 and r.errors == 0
    codes = Counter(s.code for s in r.samples)
    assert codes == {"busy": 10, "accepted": 20, "sold_out": 10}
    busy = [s for s in r.samples if s.code == "busy"]
    assert all(s.status == 503 and s.queued for s in busy)
    # the busy came back after the 200 ms they were told, with the ticket they were given
    sent: dict[int, list[tuple[str, float]]] = {}
    for n, ticket, at in _Handler.seen:
        sent.setdefault(n, []).append((ticket, at))
    for n in range(0, 40, 4):
        (first, t1), (second, t2) = sent[n]
        assert first == "" and second == f"t{n}"
        assert t2 - t1 >= 0.19
    # on schedule: first arrival to last 0.975 s apart, and the generator itself was never late by much
    starts = sorted(at for n, tickets in sent.items() for ticket, at in tickets[:1])
    assert 0.9 < starts[-1] - starts[0] < 1.2
    assert max(s.lag for s in r.samples) < 0.1
    # latency counts from when the request was due: the sold out answers are quick, none is negative
    assert all(0 <= s.latency < 1.0 for s in r.samples if s.code == "sold_out")


def test_the_closed_loop_sends_the_next_resident_as_soon_as_it_has_an_answer(binary, server):
    # when: 4 connections for 0.5 s
    r = surge._run_c(binary, "closed", port=server, path="/claims", seconds=0.5, first_person=0, conns=4,
                     timeout=10.0)

    # then: residents in order, each asked once, the busy ones once more (with their ticket, 50 ms later); the
    # connections that drew a slow resident waited for its answer
    asked = Counter(n for n, _ticket, _at in _Handler.seen)
    assert set(asked) == set(range(len(asked))) and len(asked) >= 8
    assert all(count == (2 if n % 4 == 0 else 1) for n, count in asked.items())
    assert all(ticket == f"t{n}" for n, ticket, _at in _Handler.seen if ticket)
    assert r.errors == 0 and r.timeouts == 0
    assert Counter(s.code for s in r.samples) == {"accepted": sum(1 for n in asked if n % 4 != 1),
                                                   "sold_out": sum(1 for n in asked if n % 4 == 1),
                                                   "busy": sum(1 for n in asked if n % 4 == 0)}
