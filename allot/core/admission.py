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
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable
from functools import cached_property

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
        if self.gate is not None:
            early = self.gate(request, match)
            if early is not None:
                if not early.has_header("Content-Length") and not early.streaming:
                    early["Content-Length"] = str(len(early.content))
                early._has_been_logged = True  # type: ignore[attr-defined]  # see below
                return early
        if not self.slots.acquire(blocking=False):
            busy = busy_response(request, random.randint(*RETRY_AFTER))
            # Deliberate refusals are not logged one by one (Django logs every 4xx/5xx as a warning, which under
            # a surge of tens of thousands per second costs more than the answer); the benchmark counts them.
            busy._has_been_logged = True  # type: ignore[attr-defined]
            return busy
        try:
            return self.get_response(request)
        finally:
            self.slots.release()
