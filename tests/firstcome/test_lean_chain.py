"""The served application (config/wsgi.py): admitted API claims go through the short middleware chain
(allot/core/lean.py) and answer as the full chain would — same status, body, security headers, language —
while pages keep the full chain (sessions, CSRF)."""

from __future__ import annotations

import json

import pytest
from django.core.handlers.wsgi import WSGIHandler

from allot.core.admission import AdmissionWSGI
from allot.core.lean import LeanWSGIHandler
from allot.firstcome.models import Claim
from tests.firstcome.hangzhou import SLUG, claim_body
from tests.firstcome.test_admission_wsgi import call

HEADERS = ("Content-Security-Policy", "Permissions-Policy", "Cache-Control", "X-Content-Type-Options",
           "Referrer-Policy", "X-Frame-Options", "Content-Language", "Content-Type")


@pytest.mark.django_db(transaction=True)
def test_a_claim_through_the_short_chain_answers_like_the_full_chain(hangzhou):
    # given: the application as config/wsgi.py builds it, and plain Django
    served = AdmissionWSGI(WSGIHandler(), api_app=LeanWSGIHandler())
    full = WSGIHandler()

    # when: one claim each, then the same person again each (the "already claimed" error)
    lean_ok, full_ok = call(served, claim_body(1)), call(full, claim_body(2))
    lean_again, full_again = call(served, claim_body(1, altcha=None)), call(full, claim_body(2, altcha=None))

    # then: same statuses, same header set and values (but the claim itself), same error body
    assert lean_ok[0].startswith("201") and full_ok[0].startswith("201")
    for name in HEADERS:
        assert lean_ok[1].get(name) == full_ok[1].get(name), name
    assert set(json.loads(lean_ok[2])) == set(json.loads(full_ok[2]))
    assert lean_again[0] == full_again[0] and lean_again[0].startswith("409")
    assert json.loads(lean_again[2])["errors"][0]["code"] == json.loads(full_again[2])["errors"][0]["code"] \
        == "already_claimed"
    assert json.loads(lean_again[2])["errors"][0]["message"] == json.loads(full_again[2])["errors"][0]["message"]
    assert Claim.objects.count() == 2


@pytest.mark.django_db
def test_the_short_chain_is_only_for_the_api_claim_paths(hangzhou, client):
    # the claim page (a form with a CSRF token and a session) still goes through the full chain
    page = client.get(f"/c/{SLUG}/claim/")
    assert page.status_code == 200 and "csrftoken" in page.cookies
    handler = LeanWSGIHandler()
    names = [type(m).__name__ for m in _chain(handler)]
    assert "SessionMiddleware" not in names and "CsrfViewMiddleware" not in names
    assert {"SecurityMiddleware", "SecurityHeadersMiddleware", "LocaleMiddleware"} <= set(names)


def _chain(handler: LeanWSGIHandler) -> list[object]:
    """The middleware instances of a handler, outermost first (Django wraps each in an exception converter)."""
    found, h = [], handler._middleware_chain
    while (mw := getattr(h, "__wrapped__", None)) is not None and hasattr(mw, "get_response"):
        found.append(mw)
        h = mw.get_response
    return found
