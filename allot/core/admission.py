"""Admission control for the claim endpoints: answer the surplus at once instead of queueing it.

``AdmissionMiddleware`` applies only to the paths in ``ALLOT_ADMISSION_PATHS`` (regular expressions; by
default the first-come claim page and the claim API). For those:

1. An early answer: the hook ``ALLOT_ADMISSION_GATE`` (a dotted path to ``gate(request, match) ->
   HttpResponse | None``; by default ``allot.portal.firstcome_views.admission_gate``) may answer before any
   work is done — "sold out for today" from the cached flag, "not open yet" — without a database query.
2. An in-flight cap per process: at most ``ALLOT_ADMISSION_MAX_IN_FLIGHT`` requests of these paths run at
   once (a semaphore taken without blocking). The next one gets 503 with ``Retry-After`` immediately: under
   a tenfold surge a fast "try again in 2 s" keeps every answer quick, where a queue makes every answer slow
   and ends in timeouts. Serve with threads (gunicorn ``--worker-class gthread --threads N``, N larger than
   the cap) so that a process can accept the surplus to refuse it.

The middleware lives in core and knows nothing about campaigns: the gate hook is in the interface layer.

``AdmissionWSGI`` (wrapped around Django in ``config/wsgi.py``) does the same two things for the API paths
*before* Django builds a request, where a refusal costs a few microseconds instead of ~100:

* it holds the in-flight cap itself (the middleware then sees ``ADMITTED`` in the environ and takes no slot) and
  answers 503 ``busy`` past it;
* it replays refusals Django has already built: an early answer marked with ``replayable(response, until)``
  (the gate marks "sold out", valid while the process's sold-out flag is) and the ``busy`` answer, keyed by
  method, path, ``Accept-Language`` and the language cookie — the only inputs of those answers. The first
  request of each key, and every request once an answer's time is up, goes through Django, which decides
  again. ``replies_clear()`` drops them all (the sold-out flags are cleared with it).

Only JSON answers of API paths are replayed (no cookies are set on them; the headers are Django's own).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

DEFAULT_PATHS = (r"^/c/(?P<slug>[-\w]+)/claim/$", r"^/api/v1/campaigns/(?P<slug>[-\w]+)/claims$")
DEFAULT_GATE = "allot.portal.firstcome_views.admission_gate"
DEFAULT_MAX_IN_FLIGHT = 8
RETRY_AFTER = (1, 3)  # seconds, spread so that refused clients do not come back all at once

Gate = Callable[[HttpRequest, "re.Match[str]"], HttpResponse | None]


def busy_response(request: HttpRequest, retry_after: int) -> HttpResponse:
    """503 with Retry-After: JSON with the error code ``busy`` for the API, a short page otherwise."""
    message = _("Many people are claiming right now. Nothing was taken; please try again in %(s)s seconds.") % {
        "s": retry_after}
    if request.path_info.startswith("/api/"):
        body = json.dumps({"errors": [{"field": "", "code": "busy", "message": message}]}, ensure_ascii=False)
        response = HttpResponse(body, status=503, content_type="application/json; charset=utf-8")
    else:
        page = (f'<!DOCTYPE html><html lang="{getattr(request, "LANGUAGE_CODE", "zh-hans")}"><head>'
                '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<title>503</title></head><body><main><h1>{_("Please try again")}</h1><p>{message}</p>'
                f'<p><a href="{request.path}">{_("Back to the claim form")}</a></p></main></body></html>')
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    response["Content-Length"] = str(len(response.content))  # answered before CommonMiddleware would set it
    return response


ADMITTED = "allot.admission.admitted"       # environ: the WSGI wrapper holds this request's in-flight slot
BUSY = "allot.admission.busy"               # environ: the wrapper found the cap full; answer busy (Retry-After)
REPLAY_UNTIL = "allot.admission.replay"     # environ: ("early" | "busy", until time.monotonic()): may be replayed
BUSY_REPLAY_SECONDS = 60.0
MAX_REPLIES = 1000


def replayable(response: HttpResponse, until: float) -> HttpResponse:
    """Mark an early answer as the same for every request of its key until ``until`` (``time.monotonic()``)."""
    response.allot_replay_until = until  # type: ignore[attr-defined]
    return response


def _replay_key(environ: dict[str, Any], kind: str) -> tuple[str, ...]:
    cookie = environ.get("HTTP_COOKIE", "")
    return (kind, environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""),
            environ.get("HTTP_ACCEPT_LANGUAGE", ""), cookie if settings.LANGUAGE_COOKIE_NAME in cookie else "")


@dataclass(frozen=True)
class AdmissionReply:
    until: float
    status: str
    headers: list[tuple[str, str]]
    body: bytes


_replies: dict[tuple[str, ...], AdmissionReply] = {}


def replies_clear() -> None:
    _replies.clear()


class AdmissionWSGI:
    """The in-flight cap and the replay of known refusals for the API claim paths, in front of Django."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        paths = getattr(settings, "ALLOT_ADMISSION_PATHS", DEFAULT_PATHS)
        self.patterns = [re.compile(p) for p in paths]
        self.slots = threading.BoundedSemaphore(int(getattr(settings, "ALLOT_ADMISSION_MAX_IN_FLIGHT",
                                                            DEFAULT_MAX_IN_FLIGHT)))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/api/") or not any(p.match(path) for p in self.patterns):
            return self.app(environ, start_response)
        now = time.monotonic()
        key = _replay_key(environ, "early")
        reply = _replies.get(key)
        if reply is not None and reply.until > now:
            start_response(reply.status, list(reply.headers))
            return [reply.body]
        if self.slots.acquire(blocking=False):
            environ[ADMITTED] = True
            try:
                return self._through_django(environ, start_response)
            finally:
                self.slots.release()
        retry_after = random.randint(*RETRY_AFTER)
        busy_key = _replay_key(environ, f"busy{retry_after}")
        reply = _replies.get(busy_key)
        if reply is not None and reply.until > now:
            start_response(reply.status, list(reply.headers))
            return [reply.body]
        environ[BUSY] = retry_after
        return self._through_django(environ, start_response)

    def _through_django(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Django's answer, read whole (a short JSON body) so the slot is held until it is built, and
        remembered when Django marked it replayable."""
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        replay = environ.get(REPLAY_UNTIL)
        if replay is not None and captured and not any(k.lower() == "set-cookie" for k, _v in captured[1]):
            kind, until = replay
            if len(_replies) >= MAX_REPLIES:
                _replies.clear()
            key = _replay_key(environ, "early" if kind == "early" else f"busy{environ[BUSY]}")
            _replies[key] = AdmissionReply(until=until, status=captured[0], headers=list(captured[1]), body=body)
        return [body]


class AdmissionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        paths = getattr(settings, "ALLOT_ADMISSION_PATHS", DEFAULT_PATHS)
        self.patterns = [re.compile(p) for p in paths]
        self.limit = int(getattr(settings, "ALLOT_ADMISSION_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT))
        self.slots = threading.BoundedSemaphore(self.limit)

    @cached_property
    def gate(self) -> Gate | None:
        path = getattr(settings, "ALLOT_ADMISSION_GATE", DEFAULT_GATE)
        return import_string(path) if path else None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = next((m for p in self.patterns if (m := p.match(request.path_info))), None)
        if match is None:
            return self.get_response(request)
        api = request.path_info.startswith("/api/")
        if self.gate is not None:
            early = self.gate(request, match)
            if early is not None:
                if not early.has_header("Content-Length") and not early.streaming:
                    early["Content-Length"] = str(len(early.content))
                early._has_been_logged = True  # type: ignore[attr-defined]  # see below
                until = getattr(early, "allot_replay_until", None)
                if api and until is not None:
                    request.META[REPLAY_UNTIL] = ("early", until)
                return early
        busy_retry = request.META.get(BUSY)
        if request.META.get(ADMITTED):    # the WSGI wrapper holds the slot
            return self.get_response(request)
        if busy_retry is not None or not self.slots.acquire(blocking=False):
            busy = busy_response(request, busy_retry or random.randint(*RETRY_AFTER))
            # Deliberate refusals are not logged one by one (Django logs every 4xx/5xx as a warning, which under
            # a surge of tens of thousands per second costs more than the answer); the benchmark counts them.
            busy._has_been_logged = True  # type: ignore[attr-defined]
            if api and busy_retry is not None:
                request.META[REPLAY_UNTIL] = ("busy", time.monotonic() + BUSY_REPLAY_SECONDS)
            return busy
        try:
            return self.get_response(request)
        finally:
            self.slots.release()
