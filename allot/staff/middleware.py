"""Staff sessions: idle and absolute timeouts, and the second factor for operators, notaries and superusers.

Runs after ``AuthenticationMiddleware`` and django-otp's ``OTPMiddleware``. Only authenticated sessions are
touched; a resident's anonymous session is left alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from allot.staff.selectors import needs_second_factor

STARTED = "allot_auth_started"
SEEN = "allot_auth_seen"
#: Paths where a logged-in user without a verified second factor is sent to the second-factor page.
GUARDED_PREFIXES = ("/staff/", "/admin/")


def _exempt_paths() -> tuple[str, ...]:
    return (reverse("backoffice:login"), reverse("backoffice:logout"), reverse("backoffice:otp"),
            reverse("admin:logout"), settings.STATIC_URL)


class StaffSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            redirect = self._check(request)
            if redirect is not None:
                return redirect
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        now = int(time.time())
        session = request.session
        started = session.get(STARTED)
        seen = session.get(SEEN)
        idle = settings.ALLOT_STAFF_IDLE_SECONDS
        absolute = settings.ALLOT_STAFF_ABSOLUTE_SECONDS
        if started is None:
            session[STARTED] = started = now
        if (seen is not None and now - seen > idle) or now - started > absolute:
            logout(request)  # flushes the session: a fresh, anonymous one follows
            return None
        if seen is None or now - seen >= 30:  # write the session at most twice a minute
            session[SEEN] = now
        path = request.path
        if (needs_second_factor(request.user) and not request.user.is_verified()  # type: ignore[union-attr]
                and path.startswith(GUARDED_PREFIXES) and not path.startswith(_exempt_paths())):
            return HttpResponseRedirect(f"{reverse('backoffice:otp')}?{urlencode({'next': path})}")
        return None
