"""A second Django WSGI handler with a short middleware chain, for the few public JSON endpoints of the surge.

The full chain (``settings.MIDDLEWARE``: whitenoise, sessions, CSRF, authentication, OTP, the staff session
checks, messages…) is there for pages and staff; an anonymous JSON claim uses none of it, yet each layer costs
a few microseconds on every request, about a quarter of a first-come claim's Python time in all
(bench/README.md). ``AdmissionWSGI`` (``allot.core.admission``) hands the requests of its claim API paths to
this handler; everything else goes through the full one.

The short chain is ``settings.ALLOT_LEAN_MIDDLEWARE``: the security headers, admission, the language, and the
common middleware — the ones whose effect a JSON claim answer shows. URL resolution, the view, exception
handling, and ``request_started``/``request_finished`` (which close stale database connections) are Django's
own, unchanged.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

DEFAULT_LEAN_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "allot.core.security.SecurityHeadersMiddleware",
    "allot.core.admission.AdmissionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


class LeanWSGIHandler(WSGIHandler):
    """Django's WSGI handler with ``ALLOT_LEAN_MIDDLEWARE`` instead of ``MIDDLEWARE``."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django's loader reads settings.MIDDLEWARE; point it at the short list while it builds this handler's
        # chain (once, at start-up, before any request), then put the full list back.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = list(getattr(settings, "ALLOT_LEAN_MIDDLEWARE", DEFAULT_LEAN_MIDDLEWARE))
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def lean_application() -> Any:
    return LeanWSGIHandler()
