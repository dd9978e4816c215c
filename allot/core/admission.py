"""Admission control for the claim endpoints: answer the surplus at once, with a place in line, instead of
queueing it in the server.

``AdmissionMiddleware`` applies only to the paths in ``ALLOT_ADMISSION_PATHS`` (regular expressions; by
default the first-come claim page and the claim API). For those:

1. An early answer: the hook ``ALLOT_ADMISSION_GATE`` (a dotted path to ``gate(request, match) ->
   HttpResponse | None``; by default ``allot.portal.firstcome_views.admission_gate``) may answer before any
   work is done — "sold out for today" from the cached flag, "not open yet" — without a database query. It
   answers everyone, with a ticket or without: the truth at once.
2. An in-flight cap per process: at most ``ALLOT_ADMISSION_MAX_IN_FLIGHT`` requests of these paths run at
   once (a semaphore taken without blocking). The next one is answered 503 with ``Retry-After`` immediately:
   under a tenfold surge a fast answer keeps every answer quick, where a queue inside the server makes every
   answer slow and ends in timeouts. Serve with threads (more threads than the cap) so that a process can
   accept the surplus to refuse it.
3. A virtual waiting room (``allot.core.waitroom``, ``ALLOT_WAITROOM``, on by default) for claims (POST): the
   503 carries a signed ticket with its position in line, and the estimated wait as ``Retry-After``. A client
   that sends the ticket back is admitted in ticket order, ahead of newcomers; a newcomer while people are
   waiting gets the next number. The API carries the ticket in the response header and request header
   ``Allot-Queue-Token`` and the wait to the millisecond in ``Allot-Queue-Wait-Ms`` (and both in the JSON body:
   ``{"errors": [{"code": "busy", …}], "queue": {"token", "position", "retry_after", "wait_ms"}}``); the claim
   page in an HttpOnly, SameSite=Lax cookie ``allot_queue`` scoped to the claim path, with a page that says the
   position and when to press the button again. Other methods, and
   everything when the waiting room is off or its Redis is down, keep the plain cap: 503 ``busy`` with a random
   ``Retry-After`` of 2-6 s (``ALLOT_ADMISSION_RETRY_AFTER``).

The middleware lives in core and knows nothing about campaigns: the gate hook is in the interface layer.

``AdmissionWSGI`` (wrapped around Django in ``config/wsgi.py``) does the same for the API paths *before* Django
builds a request, where a refusal costs a few microseconds instead of ~100:

* it holds the in-flight cap and the waiting room itself (the middleware then sees ``ADMITTED`` in the environ
  and takes no slot) and answers 503 ``busy`` past it;
* it replays refusals Django has already built: an early answer marked with ``replayable(response, until)``
  (the gate marks "sold out", valid while the process's sold-out flag is), keyed by method, path,
  ``Accept-Language`` and the language cookie — the only inputs of those answers; and the ``busy`` answer, whose
  body differs per ticket: the first one of each key goes through Django, which hands back its headers and a
  template of its body, and the wrapper fills in the ticket, position and seconds by string formatting. The
  first request of each key, and every request once an answer's time is up, goes through Django, which decides
  again. ``replies_clear()`` drops them all (the sold-out flags are cleared with it).

Only JSON answers of API paths are replayed (no cookies are set on them; the headers are Django's own).
Each admission point (the wrapper, the middleware) has its own slots and its own queue: the queue hands out the
capacity of those slots, so all claim paths behind one set of slots share one line.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.html import escape
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from allot.core import waitroom
from allot.core.conf import setting
from allot.core.waitroom import ADMIT, Entry, plain_busy

DEFAULT_PATHS = (r"^/c/(?P<slug>[-\w]+)/claim/$", r"^/api/v1/campaigns/(?P<slug>[-\w]+)/claims$")
DEFAULT_GATE = "allot.portal.firstcome_views.admission_gate"
DEFAULT_RECHECK = "allot.portal.firstcome_views.admission_recheck"
DEFAULT_REFRESH = "allot.portal.firstcome_views.admission_refresh"
REFRESH_AHEAD = 0.5   # seconds before a kept early answer ends that the refresh hook is asked (AdmissionWSGI)
DEFAULT_MAX_IN_FLIGHT = 12
RETRY_AFTER = waitroom.PLAIN_RETRY_AFTER  # seconds of the plain busy answer, spread

logger = logging.getLogger(__name__)

QUEUE_HEADER = "Allot-Queue-Token"          # response header, and the request header a client sends it back in
QUEUE_META = "HTTP_ALLOT_QUEUE_TOKEN"
WAIT_HEADER = "Allot-Queue-Wait-Ms"         # the wait to the millisecond (Retry-After has whole seconds only)
QUEUE_COOKIE = "allot_queue"                # the claim page's ticket (HttpOnly, SameSite=Lax, path of the page)

Gate = Callable[[HttpRequest, "re.Match[str]"], HttpResponse | None]


# --- slots -----------------------------------------------------------------------------------------------

class Slots:
    """The in-flight cap of one admission point, and the mean time a request holds a slot. Its capacity is
    ``limit / mean`` requests per second (Little's law with every slot busy) — an upper bound of what the slots
    serve, which is what the waiting room calls tickets at. (Counting completions instead would measure demand:
    a queue called too slowly completes only what it calls and never learns it could go faster.)"""

    ALPHA = 0.05            # weight of each new duration in the moving average (~the last 20 requests)
    FIRST_GUESS = 0.05      # seconds, before anything was measured
    LONGEST = 2.0           # seconds: one stuck request must not make the capacity look like nothing

    def __init__(self, limit: int) -> None:
        self.limit = max(0, int(limit))
        self._sem = threading.BoundedSemaphore(self.limit)
        self.mean = self.FIRST_GUESS

    def take(self) -> bool:
        return self._sem.acquire(blocking=False)

    def give(self) -> None:
        self._sem.release()

    def done(self, seconds: float) -> None:
        """Give the slot back after a request that held it for ``seconds``."""
        self.mean += self.ALPHA * (min(max(seconds, 0.0001), self.LONGEST) - self.mean)
        self._sem.release()

    @property
    def rate(self) -> float:
        return self.limit / self.mean


class AdmissionPoint:
    """Slots and the waiting room of one admission point."""

    def __init__(self, scope: str) -> None:
        self.slots = Slots(int(getattr(settings, "ALLOT_ADMISSION_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)))
        self.room = waitroom.Waitroom(scope)
        self.clock: Callable[[], float] | None = None   # Unix seconds; tests set it

    def enter(self, *, method: str, token: str | None) -> Entry:
        if method != "POST" or not waitroom.enabled():
            return ADMIT if self.slots.take() else plain_busy()
        return self.room.enter(token=token, take=self.slots.take, give=self.slots.give, rate=self.slots.rate,
                               now=self.clock() if self.clock is not None else None)


# --- the busy answer -------------------------------------------------------------------------------------

_api_templates: dict[str, tuple[str, str]] = {}


def _json_template(message: str, *, queue: bool) -> str:
    """The JSON body as a %-template: ``%(s)d``, ``%(position)d``, ``%(token)s``, ``%(w)d``, and the message's own
    placeholders (``%(s)s``, ``%(position)s``)."""
    data: dict[str, Any] = {"errors": [{"field": "", "code": "busy", "message": "\0m"}]}
    if queue:
        data["queue"] = {"token": "\0t", "position": "\0p", "retry_after": "\0s", "wait_ms": "\0w"}
    skeleton = json.dumps(data, ensure_ascii=False).replace("%", "%%")
    text = json.dumps(message, ensure_ascii=False)[1:-1]
    return (skeleton.replace("\\u0000m", text).replace('"\\u0000t"', '"%(token)s"')
            .replace('"\\u0000p"', "%(position)d").replace('"\\u0000s"', "%(s)d").replace('"\\u0000w"', "%(w)d"))


def busy_templates(language: str) -> tuple[str, str]:
    """The API's busy bodies in ``language``: (plain, with a ticket), built once per language."""
    templates = _api_templates.get(language)
    if templates is None:
        with translation.override(language):
            plain = _("Many people are claiming right now. Nothing was taken; please try again in %(s)s seconds.")
            queued = _("Many people are claiming right now. Nothing was taken; you are number %(position)s in "
                       "line. Please try again in %(s)s seconds.")
        templates = _api_templates[language] = (_json_template(plain, queue=False),
                                                _json_template(queued, queue=True))
    return templates


def _fill(template: str, entry: Entry) -> bytes:
    return (template % {"s": entry.retry_after, "position": entry.position, "token": entry.token,
                        "w": entry.wait_ms}).encode()


def _busy_page(request: HttpRequest, language: str, entry: Entry) -> str:
    with translation.override(language):
        values = {"s": entry.retry_after, "position": entry.position}
        if entry.token:
            title = _("You are number %(position)s in line") % values
            text = _("Many people are claiming right now and nothing was taken yet. Press “Claim” again in "
                     "%(s)s seconds: go back with your browser's back button, the form keeps what you "
                     "entered.") % values
        else:
            title = _("Please try again")
            text = _("Many people are claiming right now. Nothing was taken; please try again in %(s)s "
                     "seconds.") % values
        back = _("Back to the claim form")
    return (f'<!DOCTYPE html><html lang="{escape(language)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>503</title></head><body><main><h1>{escape(title)}</h1><p>{escape(text)}</p>'
            f'<p><a href="{escape(request.path)}">{escape(back)}</a></p></main></body></html>')


def busy_response(request: HttpRequest, retry_after: int, *, queue: Entry | None = None) -> HttpResponse:
    """503 with Retry-After: JSON with the error code ``busy`` for the API (and ``queue`` with a ticket), a short
    page otherwise (and the ticket in a cookie of the claim path)."""
    entry = queue if queue is not None else Entry(admitted=False, retry_after=retry_after)
    language = translation.get_language_from_request(request)
    if request.path_info.startswith("/api/"):
        plain, queued = busy_templates(language)
        response = HttpResponse(_fill(queued if entry.token else plain, entry), status=503,
                                content_type="application/json; charset=utf-8")
        if entry.token:
            response[QUEUE_HEADER] = entry.token
            response[WAIT_HEADER] = str(entry.wait_ms)
    else:
        response = HttpResponse(_busy_page(request, language, entry), status=503,
                                content_type="text/html; charset=utf-8")
        if entry.token:
            response.set_cookie(QUEUE_COOKIE, entry.token, max_age=waitroom.token_seconds(), path=request.path,
                                httponly=True, samesite="Lax",
                                secure=request.is_secure() or bool(getattr(settings, "SESSION_COOKIE_SECURE", False)))
    response["Retry-After"] = str(entry.retry_after)
    response["Cache-Control"] = "no-store"
    response["Content-Language"] = language
    response["Content-Length"] = str(len(response.content))  # answered before CommonMiddleware would set it
    return response


# --- replayed answers ------------------------------------------------------------------------------------

ADMITTED = "allot.admission.admitted"       # environ: the WSGI wrapper holds this request's in-flight slot
BUSY = "allot.admission.busy"               # environ: the wrapper's Entry for a refused request; answer busy
BUSY_TEMPLATES = "allot.admission.busy_templates"  # environ: (plain, queued) body templates of that answer
REPLAY_UNTIL = "allot.admission.replay"     # environ: ("early", until time.monotonic()): may be replayed
FRONT_BUSY = "allot.front.busy"           # ASGI scope: the claim lane refused this request (its Entry); answer busy
BUSY_REPLAY_SECONDS = 60.0
MAX_REPLIES = 1000
_PER_ANSWER = frozenset({"retry-after", "content-length", QUEUE_HEADER.lower(), WAIT_HEADER.lower()})


def replayable(response: HttpResponse, until: float) -> HttpResponse:
    """Mark an early answer as the same for every request of its key until ``until`` (``time.monotonic()``)."""
    response.allot_replay_until = until  # type: ignore[attr-defined]
    return response


def _replay_key(environ: dict[str, Any], kind: str) -> tuple[str, ...]:
    cookie = environ.get("HTTP_COOKIE", "")
    return (kind, environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""),
            environ.get("HTTP_ACCEPT_LANGUAGE", ""), cookie if setting("LANGUAGE_COOKIE_NAME") in cookie else "")


@dataclass(frozen=True)
class AdmissionReply:
    until: float
    status: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class BusyReply:
    """A busy answer Django built, to be filled in per request: its headers without the per-answer ones, and
    the templates of its body."""

    until: float
    status: str
    headers: tuple[tuple[str, str], ...]
    plain: str
    queued: str

    def render(self, entry: Entry) -> tuple[list[tuple[str, str]], bytes]:
        body = _fill(self.queued if entry.token else self.plain, entry)
        headers = [*self.headers, ("Retry-After", str(entry.retry_after)), ("Content-Length", str(len(body)))]
        if entry.token:
            headers += [(QUEUE_HEADER, entry.token), (WAIT_HEADER, str(entry.wait_ms))]
        return headers, body


_replies: dict[tuple[str, ...], AdmissionReply] = {}
_busy: dict[tuple[str, ...], BusyReply] = {}


def replies_clear() -> None:
    _replies.clear()
    _busy.clear()


def early_reply(environ: dict[str, Any]) -> AdmissionReply | None:
    """The early answer Django gave this request's key, while it holds (``AdmissionWSGI``; the claim lane asks
    too)."""
    reply = _replies.get(_replay_key(environ, "early"))
    return reply if reply is not None and reply.until > time.monotonic() else None


def busy_reply(environ: dict[str, Any], *, expired: bool = False) -> BusyReply | None:
    """The busy answer Django built for this request's key, to be filled in per request, while it holds (with
    ``expired``: also once it no longer does — the claim lane's answer while Django builds the next one)."""
    busy = _busy.get(_replay_key(environ, "busy"))
    return busy if busy is not None and (expired or busy.until > time.monotonic()) else None


def early_key(environ: dict[str, Any]) -> tuple[str, ...]:
    """What an early answer is kept for (``early_reply``): method, path, language."""
    return _replay_key(environ, "early")


def busy_key(environ: dict[str, Any]) -> tuple[str, ...]:
    """What a busy answer is built and kept for (``busy_reply``): method, path, language."""
    return _replay_key(environ, "busy")


class AdmissionWSGI:
    """The in-flight cap, the waiting room and the replay of known refusals for the API claim paths, in front
    of Django."""

    def __init__(self, app: Callable[..., Iterable[bytes]],
                 api_app: Callable[..., Iterable[bytes]] | None = None) -> None:
        """``app`` answers everything; ``api_app``, if given, the claim API paths (a Django handler with a shorter
        middleware chain that still holds ``AdmissionMiddleware``)."""
        self.app = app
        self.api_app = api_app or app
        paths = getattr(settings, "ALLOT_ADMISSION_PATHS", DEFAULT_PATHS)
        self.patterns = [re.compile(p) for p in paths]
        self.point = AdmissionPoint("wsgi")
        self._refresh_lock = threading.Lock()
        self._refreshed: dict[str, float] = {}   # slug -> when (monotonic) the refresh hook was last asked

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        match = next((m for p in self.patterns if (m := p.match(path))), None) if path.startswith("/api/") else None
        if match is None:
            return self.app(environ, start_response)
        reply = early_reply(environ)
        if reply is not None:
            if reply.until - time.monotonic() < REFRESH_AHEAD:
                self._refresh_ahead(environ, match)
            start_response(reply.status, list(reply.headers))
            return [reply.body]
        refused: Entry | None = (environ.get("asgi.scope") or {}).get(FRONT_BUSY)   # the lane's, past its cap
        entry = refused or self.point.enter(method=environ.get("REQUEST_METHOD", ""), token=environ.get(QUEUE_META))
        if entry.admitted:
            environ[ADMITTED] = True
            started = time.perf_counter()
            try:
                return self._through_django(environ, start_response)
            finally:
                self.point.slots.done(time.perf_counter() - started)
        if refused is None and self._sold_out_after_all(environ, match):
            # the flag is set again: the kept "sold out" answer, or Django's, whose gate answers from the flag
            reply = early_reply(environ)
            if reply is not None:
                start_response(reply.status, list(reply.headers))
                return [reply.body]
            environ[BUSY] = entry
            return self._through_django(environ, start_response)
        busy = busy_reply(environ)
        if busy is not None:
            headers, body = busy.render(entry)
            start_response(busy.status, headers)
            return [body]
        environ[BUSY] = entry
        return self._through_django(environ, start_response)

    @cached_property
    def recheck(self) -> Callable[[re.Match[str]], bool] | None:
        path = getattr(settings, "ALLOT_ADMISSION_RECHECK", DEFAULT_RECHECK)
        return import_string(path) if path else None

    def _sold_out_after_all(self, environ: dict[str, Any], match: re.Match[str]) -> bool:
        """For a claim about to be told "busy": whether the hook (``ALLOT_ADMISSION_RECHECK``) finds its campaign
        sold out after all — a process that knew the sell-out, whose flags lapsed in a quiet spell, asks the
        record once rather than tell the crowd that comes back "come back" (ADR 0012, decision 13)."""
        if self.recheck is None or environ.get("REQUEST_METHOD") != "POST":
            return False
        return "slug" in match.groupdict() and self.recheck(match)

    @cached_property
    def refresh(self) -> Callable[[re.Match[str]], bool] | None:
        path = getattr(settings, "ALLOT_ADMISSION_REFRESH", DEFAULT_REFRESH)
        return import_string(path) if path else None

    def _refresh_ahead(self, environ: dict[str, Any], match: re.Match[str]) -> None:
        """A kept early answer ("sold out") replayed within ``REFRESH_AHEAD`` seconds of its end, which is when
        the process's flag lapses: the hook (``ALLOT_ADMISSION_REFRESH``) asks the record now, so that while the
        campaign stays sold out its flag is set again before it lapses and the crowd goes on being told so. This
        request's thread asks, at most once per ``REFRESH_AHEAD`` per campaign in the process; the others answer
        at once (the claim lane does the same in ``ClaimLane._sold_out_refresh``)."""
        if self.refresh is None or environ.get("REQUEST_METHOD") != "POST" or "slug" not in match.groupdict():
            return
        slug, now = match["slug"], time.monotonic()
        with self._refresh_lock:
            last = self._refreshed.get(slug)
            if last is not None and now - last < REFRESH_AHEAD:
                return
            if len(self._refreshed) > 64:
                self._refreshed.clear()
            self._refreshed[slug] = now
        try:
            self.refresh(match)
        except Exception:   # the kept answer is still the answer; the flag lapses as it would have
            logger.exception("the refresh of the sold-out flag of %s failed", slug)

    def _through_django(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Django's answer, read whole (a short JSON body) so the slot is held until it is built, and
        remembered when Django marked it replayable."""
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.api_app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not captured or any(k.lower() == "set-cookie" for k, _v in captured[1]):
            return [body]
        replay = environ.get(REPLAY_UNTIL)
        templates = environ.get(BUSY_TEMPLATES)
        if replay is not None or templates is not None:
            if len(_replies) + len(_busy) >= MAX_REPLIES:
                replies_clear()
            if replay is not None:
                _kind, until = replay
                _replies[_replay_key(environ, "early")] = AdmissionReply(
                    until=until, status=captured[0], headers=list(captured[1]), body=body)
            elif templates is not None:
                plain, queued = templates
                _busy[_replay_key(environ, "busy")] = BusyReply(
                    until=time.monotonic() + BUSY_REPLAY_SECONDS, status=captured[0], plain=plain, queued=queued,
                    headers=tuple((k, v) for k, v in captured[1] if k.lower() not in _PER_ANSWER))
        return [body]


class AdmissionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        paths = getattr(settings, "ALLOT_ADMISSION_PATHS", DEFAULT_PATHS)
        self.patterns = [re.compile(p) for p in paths]
        self.point = AdmissionPoint("django")

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
        if request.META.get(ADMITTED):    # the WSGI wrapper holds the slot
            return self.get_response(request)
        entry: Entry | None = request.META.get(BUSY)
        from_wrapper = entry is not None
        if entry is None:
            token = request.META.get(QUEUE_META) if api else request.COOKIES.get(QUEUE_COOKIE)
            entry = self.point.enter(method=request.method or "", token=token)
            if entry.admitted:
                started = time.perf_counter()
                try:
                    response = self.get_response(request)
                finally:
                    self.point.slots.done(time.perf_counter() - started)
                if not api and QUEUE_COOKIE in request.COOKIES:   # the ticket is spent (or was no good)
                    response.delete_cookie(QUEUE_COOKIE, path=request.path, samesite="Lax")
                return response
        busy = busy_response(request, entry.retry_after, queue=entry)
        # Deliberate refusals are not logged one by one (Django logs every 4xx/5xx as a warning, which under
        # a surge of tens of thousands per second costs more than the answer); the benchmark counts them.
        busy._has_been_logged = True  # type: ignore[attr-defined]
        if api and from_wrapper:
            request.META[BUSY_TEMPLATES] = busy_templates(busy["Content-Language"])
        return busy
