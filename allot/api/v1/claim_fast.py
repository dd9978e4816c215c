"""The admitted API claim, answered without building a Django request: the fast lane of
``POST /api/v1/campaigns/{slug}/claims``.

At the opening of a first-come campaign almost every request is this one operation, and a third of its CPU went
to the machinery around it — Django's handler, URL resolution, the middleware chain, django-ninja's parameter
models and response validation (bench/README.md; ADR 0010). This WSGI app sits where ``AdmissionWSGI`` hands
over an API claim (``config/wsgi.py``); it answers only the claims that wrapper admitted (``ADMITTED`` in the
environ: the wrapper holds their in-flight slot — a refusal the wrapper sends through Django to build its busy
answer is Django's) and does only what that answer needs:

* reads the JSON body, validates it with the operation's own schema (``ClaimIn``'s fields in a plain pydantic
  model: same types, lengths, ``extra="forbid"``);
* activates the language Django would (``get_language_from_request``), sends ``request_started`` /
  ``request_finished`` (database connections are checked and returned as after any request);
* calls ``claims.claim_api_submit`` — the very function the django-ninja operation calls — and renders its
  result or its ``DomainError`` with django-ninja's encoder, as the operation's error handler does.

Everything it is not sure to answer alike goes to Django unchanged (``fallback``, the short-chain handler), with
the body it read: a body that does not validate (the field errors are django-ninja's), an unknown campaign, a
window that is not open or a sold-out flag (the admission gate's early answers), a request too large, and the
first request of each (language, host, scheme) — from whose answer the lane learns the headers the middleware
chain sets (security headers, ``Content-Language``, ``Vary``…), and which it then sends itself for that key. So
a change of security settings reaches the lane's answers as soon as it reaches Django's, and a host Django
refuses never gets a lane answer. An unexpected exception is logged like Django logs one (``django.request``,
``got_request_exception``) and answered 500 with the API's error body.

``ALLOT_API_FAST_CLAIM=false`` sends every claim through Django.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import pydantic
from django.conf import settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.http.cookie import parse_cookie
from django.urls import set_script_prefix
from django.utils import translation
from django.utils.translation import gettext as _
from ninja.responses import NinjaJSONEncoder

from allot.core.admission import ADMITTED
from allot.core.conf import setting
from allot.core.errors import DomainError
from allot.firstcome import gate, selectors
from allot.verification.ratelimit import Client

from .claims import ClaimIn, claim_api_submit

logger = logging.getLogger("django.request")

PATH = re.compile(r"^/api/v1/campaigns/(?P<slug>[-\w]+)/claims$")
MAX_BODY = 16 * 1024          # a claim is ~5 KB with its proof; anything larger goes to Django's own limits
MAX_KEYS = 256                # learned header sets (languages × hosts × schemes); cleared past it
_PER_ANSWER = frozenset({"content-length", "set-cookie"})

# ClaimIn's fields and rules in a plain pydantic model: django-ninja's Schema wraps every validation in a
# Django-aware getter this body does not need (a tenth of the operation's CPU).
_Plain: type[pydantic.BaseModel] = pydantic.create_model(   # type: ignore[call-overload]
    "ClaimInPlain", __config__=pydantic.ConfigDict(extra="forbid"),
    **{name: (f.annotation, f) for name, f in ClaimIn.model_fields.items()})


def enabled() -> bool:
    return bool(setting("ALLOT_API_FAST_CLAIM", True))


class _LanguageRequest:
    """What ``translation.get_language_from_request`` reads of a request."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.META = environ
        self.COOKIES = parse_cookie(environ.get("HTTP_COOKIE", ""))
        self.path_info = environ.get("PATH_INFO", "")


class ClaimFastWSGI:
    """WSGI app for the admitted API claim; ``fallback`` (a Django handler) answers everything else."""

    def __init__(self, fallback: Callable[..., Iterable[bytes]]) -> None:
        self.fallback = fallback
        self._headers: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}
        self._languages: dict[tuple[str, str], str] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = PATH.match(environ.get("PATH_INFO", ""))
        if (match is None or not environ.get(ADMITTED) or environ.get("REQUEST_METHOD") != "POST"
                or not enabled()):   # only a claim the admission wrapper let in (and holds a slot for)
            return self.fallback(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return self.fallback(environ, start_response)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)   # for Django, should it answer after all
        language, key = self.key_of(environ)
        headers = self.learned(key)
        if headers is None:
            return self._learn(key, environ, start_response)
        fields = self._fields(body, match["slug"])
        if fields is None:
            return self.fallback(environ, start_response)
        return self._answer(environ, start_response, match["slug"], fields, language, headers)

    def key_of(self, environ: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        """The language Django would answer ``environ`` in, and the key of the headers its answers carry."""
        language = self._language(environ)
        return language, (language, environ.get("HTTP_HOST", ""), environ.get("wsgi.url_scheme", ""),
                          environ.get("HTTP_X_FORWARDED_PROTO", ""))

    def learned(self, key: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
        """The headers Django gave its first 201 of ``key`` (None: not seen yet; Django answers the next one)."""
        return self._headers.get(key)

    # --- what only Django answers ------------------------------------------------------------------------

    @staticmethod
    def _fields(body: bytes, slug: str) -> dict[str, Any] | None:
        """The validated fields, or None when Django must answer: a body that does not parse or validate, an
        unknown campaign, a window not open, a sold-out flag."""
        try:
            data = json.loads(body)
            fields = _Plain.model_validate(data).model_dump()
            cc = selectors.claim_campaign(slug=slug)
        except (ValueError, pydantic.ValidationError, DomainError):   # JSONDecodeError is a ValueError
            return None
        campaign = cc.campaign
        w = selectors.window(campaign)
        if w.state != "open":
            return None
        name = gate.scope_field(campaign.quota_scope)
        sold, _whole = gate.sold_out_for(slug=campaign.slug, day=w.day,
                                         hint=gate.area_hint(data, name) if name else None)
        return None if sold else fields

    def _learn(self, key: tuple[str, ...], environ: dict[str, Any],
               start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Django answers; the headers of its answer are remembered for ``key`` if it is an accepted claim (201:
        only the operation gives it, so it passed the whole middleware chain — an early answer of the admission
        gate does not) and sets no cookie."""
        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("201") and not any(k.lower() == "set-cookie" for k, _v in headers):
                if len(self._headers) >= MAX_KEYS:
                    self._headers.clear()
                self._headers[key] = tuple((k, v) for k, v in headers if k.lower() not in _PER_ANSWER)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.fallback(environ, capture)

    def _language(self, environ: dict[str, Any]) -> str:
        cookie = environ.get("HTTP_COOKIE", "")
        raw = (environ.get("HTTP_ACCEPT_LANGUAGE", ""), cookie if settings.LANGUAGE_COOKIE_NAME in cookie else "")
        language = self._languages.get(raw)
        if language is None:
            language = translation.get_language_from_request(_LanguageRequest(environ))  # type: ignore[arg-type]
            if len(self._languages) >= MAX_KEYS:
                self._languages.clear()
            self._languages[raw] = language
        return language

    # --- the lane ----------------------------------------------------------------------------------------

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any], slug: str,
                fields: dict[str, Any], language: str, headers: tuple[tuple[str, str], ...]) -> list[bytes]:
        set_script_prefix(environ.get("SCRIPT_NAME", "") or "/")
        signals.request_started.send(sender=WSGIHandler, environ=environ)
        try:
            with translation.override(language):
                try:
                    data: Any = claim_api_submit(slug=slug, fields=fields,
                                                 client=Client(ip=str(environ.get("REMOTE_ADDR") or "")))
                    status = 201
                except DomainError as exc:
                    data, status = error_body(exc), exc.status
                except Exception:
                    signals.got_request_exception.send(sender=None, request=None)
                    logger.exception("Internal Server Error: %s", environ.get("PATH_INFO", ""))
                    data, status = server_error_body(), 500
                content = encode(data)
        finally:
            signals.request_finished.send(sender=WSGIHandler)
        start_response(f"{status} {HTTPStatus(status).phrase}", [*headers, ("Content-Length", str(len(content)))])
        return [content]


def error_body(exc: DomainError) -> dict[str, Any]:
    """The API's body of a refusal (django-ninja's error handler gives the same)."""
    return {"errors": [e.as_dict() for e in exc.errors]}


def server_error_body() -> dict[str, Any]:
    return {"errors": [{"field": "", "code": "server_error", "message": _(
        "Something went wrong on our side. Please try again in a moment: if your claim went through, the answer "
        "will say so.")}]}


def encode(data: Any) -> bytes:
    """JSON as django-ninja renders it (its encoder: dates, datetimes, lazy strings)."""
    return json.dumps(data, cls=NinjaJSONEncoder).encode()
