"""The fast lane of the API claim (``allot.api.v1.claim_fast``, wired in config/wsgi.py): admitted claims are
answered without a Django request, exactly as Django answers them — same status, headers and body — and what
the lane cannot answer alike still reaches Django."""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

from allot.api.v1.claim_fast import ClaimFastWSGI
from allot.core.admission import AdmissionWSGI
from allot.core.lean import LeanWSGIHandler
from allot.firstcome import gate
from allot.firstcome.models import Claim
from allot.firstcome.services import claim_create
from tests.firstcome.hangzhou import SLUG, claim_body, claim_request
from tests.firstcome.test_admission_wsgi import CountingDjango, call

HEADERS = ("Content-Security-Policy", "Permissions-Policy", "Cache-Control", "X-Content-Type-Options",
           "Referrer-Policy", "X-Frame-Options", "Content-Language", "Content-Type", "Vary",
           "Cross-Origin-Opener-Policy")


def _served() -> tuple[AdmissionWSGI, CountingDjango]:
    django = CountingDjango(LeanWSGIHandler())   # the short-chain Django handler behind the lane, counted
    return AdmissionWSGI(WSGIHandler(), api_app=ClaimFastWSGI(django)), django


def _same_but_the_claim(body: bytes) -> object:
    """The body with what differs from claim to claim (its number, its parcel's number, the time) blanked."""
    text = re.sub(r'"(number|created_at)": "[^"]*"', r'"\1": "…"', body.decode())
    return json.loads(text)


def _assert_same(lane: tuple[str, dict[str, str], bytes], django: tuple[str, dict[str, str], bytes]) -> None:
    assert lane[0] == django[0]
    for name in HEADERS:
        assert lane[1].get(name) == django[1].get(name), name
    assert lane[1]["Content-Length"] == str(len(lane[2]))
    assert set(lane[1]) == set(django[1])
    assert _same_but_the_claim(lane[2]) == _same_but_the_claim(django[2])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_lane_answers_as_django_does_and_django_sees_only_the_first_claim(hangzhou, language):
    # given: the application as config/wsgi.py builds it (its Django part counted), and the same without the lane
    # (admitted claims through the short-chain Django handler, tests/firstcome/test_lean_chain.py)
    served, django = _served()
    full = AdmissionWSGI(WSGIHandler(), api_app=LeanWSGIHandler())

    # when: the first claim (Django answers; the lane learns the headers), then a claim, the same person again,
    # a bad proof and a refused ID number — each also sent without the lane as another resident
    first = call(served, claim_body(1), language=language)
    calls_after_first = django.calls
    pairs = [
        (call(served, claim_body(2), language=language), call(full, claim_body(12), language=language)),
        (call(served, claim_body(2), language=language), call(full, claim_body(12), language=language)),
        (call(served, claim_body(3, altcha="x"), language=language),
         call(full, claim_body(13, altcha="x"), language=language)),
        (call(served, claim_body(4, id_number="110101199003071234"), language=language),
         call(full, claim_body(14, id_number="110101199003071234"), language=language)),
    ]

    # then: Django answered only the first; every other answer is Django's own, but for the claim itself
    assert first[0].startswith("201") and calls_after_first == 1
    assert django.calls == 1
    assert [lane[0][:3] for lane, _django in pairs] == ["201", "409", "400", "400"]
    for lane, plain in pairs:
        _assert_same(lane, plain)
    assert json.loads(pairs[1][0][2])["errors"][0]["code"] == "already_claimed"
    assert json.loads(pairs[2][0][2])["errors"][0]["code"] == "altcha_invalid"
    assert Claim.objects.count() == 3   # 1, 2 and 12, nobody else


@pytest.mark.django_db(transaction=True)
def test_what_the_lane_cannot_answer_alike_goes_to_django_with_its_body(hangzhou):
    # given: a served application that has learned its headers
    served, django = _served()
    assert call(served, claim_body(1))[0].startswith("201")

    # when: a body that does not validate, an unknown field, an unknown campaign, another host
    missing = call(served, {k: v for k, v in claim_body(2).items() if k != "name"})
    unknown = call(served, {**claim_body(3), "vip": True})
    other_campaign = call(served, claim_body(4), path="/api/v1/campaigns/nowhere/claims")
    calls = django.calls

    # then: each reached Django, which read the body the lane had read, and answered with its own errors
    assert calls == 4
    assert missing[0].startswith("400") and json.loads(missing[2])["errors"][0] == {
        "field": "name", "code": "missing", "message": json.loads(missing[2])["errors"][0]["message"]}
    assert unknown[0].startswith("400") and json.loads(unknown[2])["errors"][0]["code"] == "unexpected_field"
    assert other_campaign[0].startswith("404")
    assert json.loads(other_campaign[2])["errors"][0]["code"] == "campaign_not_found"


@pytest.mark.django_db(transaction=True)
@override_settings(ALLOWED_HOSTS=["testserver"])
def test_a_host_django_refuses_never_gets_an_answer_from_the_lane(hangzhou):
    served, django = _served()
    assert call(served, claim_body(1))[0].startswith("201")

    status, _headers, _body = call(served, claim_body(2), host="evil.example")

    assert status.startswith("400") and django.calls == 2   # Django's DisallowedHost, not a claim
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_sold_out_and_not_open_are_the_gates_answers(hangzhou):
    # given: a learned lane, then the quota gone (3 units) and the flag set
    served, django = _served()
    assert call(served, claim_body(1))[0].startswith("201")
    for n in (2, 3):
        claim_create(campaign=hangzhou, request=claim_request(n))
    call(served, claim_body(4))   # finds no unit: the flag is set
    calls = django.calls

    # when
    status, _headers, body = call(served, claim_body(5))

    # then: the admission gate's early answer, from Django (then replayed before it)
    assert status.startswith("409") and json.loads(body)["errors"][0]["code"] == "sold_out"
    assert gate.is_sold_out(slug=SLUG, day=Claim.objects.first().day, scope_key=gate.WHOLE)
    assert django.calls == calls + 1


@pytest.mark.django_db(transaction=True)
def test_past_the_in_flight_cap_the_answer_is_busy_and_nothing_is_claimed(hangzhou):
    # given: a learned lane, and every in-flight slot of the admission wrapper taken
    served, _django = _served()
    assert call(served, claim_body(1))[0].startswith("201")
    slots = served.point.slots
    while slots.take():
        pass

    # when: two claims (the first busy answer is built by Django, the second replayed before it)
    answers = [call(served, claim_body(n)) for n in (2, 3)]

    # then: both busy, neither claimed
    for status, headers, body in answers:
        assert status.startswith("503") and json.loads(body)["errors"][0]["code"] == "busy"
        assert "Retry-After" in headers
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_switched_off_every_claim_goes_through_django(hangzhou, settings):
    settings.ALLOT_API_FAST_CLAIM = False
    served, django = _served()

    answers = [call(served, claim_body(n))[0][:3] for n in (1, 2, 3)]

    assert answers == ["201", "201", "201"] and django.calls == 3


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_failure_is_logged_and_answered_500_and_the_request_is_finished(hangzhou, monkeypatch,
                                                                                      caplog):
    # given: a learned lane, and a claim path that fails in a way nobody planned for
    served, _django = _served()
    assert call(served, claim_body(1))[0].startswith("201")
    finished: list[object] = []

    def on_finished(**kwargs):
        finished.append(kwargs)

    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("allot.api.v1.claim_fast.claim_api_submit", broken)
    signals.request_finished.connect(on_finished)
    try:
        with caplog.at_level(logging.ERROR, logger="django.request"):
            status, headers, body = call(served, claim_body(2))
    finally:
        signals.request_finished.disconnect(on_finished)

    # then
    assert status == "500 Internal Server Error"
    assert json.loads(body)["errors"][0]["code"] == "server_error"
    assert headers["Content-Type"].startswith("application/json")
    assert any("disk on fire" in (r.exc_text or "") for r in caplog.records)
    assert len(finished) == 1
