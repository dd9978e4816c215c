"""Security headers on every response (Django 5.2 has no built-in Content-Security-Policy):

* ``Content-Security-Policy``: scripts, styles, images and forms from this origin only; no inline script, no
  ``eval``, no plugins, no framing. The one exception is the API's interactive docs page (Swagger UI writes
  inline styles), which gets ``style-src 'unsafe-inline'`` — still no inline script.
* ``Cache-Control: no-store`` on every response that did not choose its own caching: pages with personal data
  (registration, status, staff pages, the admin, the API) must not stay in a shared or browser cache. Public
  files that may be cached (draw bundles, static files) set their own ``Cache-Control``.
* ``Permissions-Policy``: no camera except for the clerk's scanner page, no geolocation except from this origin,
  nothing else.

HSTS, ``nosniff``, ``Referrer-Policy`` and the frame denial (``X-Frame-Options: DENY``) come from Django's
``SecurityMiddleware`` and ``XFrameOptionsMiddleware`` with the settings in ``config/settings``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
CSP_API_DOCS = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
API_DOCS_PATH = "/api/v1/docs"
PERMISSIONS_POLICY = "camera=(self), geolocation=(self), microphone=(), payment=(), usb=(), interest-cohort=()"


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        csp = CSP_API_DOCS if request.path == API_DOCS_PATH else CSP
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response
