"""``AdmissionWSGI`` (config/wsgi.py): the in-flight cap and the replay of known refusals of the claim API,
before Django builds a request — the same answers as Django's, and Django decides again once they expire."""

from __future__ import annotations

import io
import json
import sys
import time

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

from allot.core import admission
from allot.core.admission import AdmissionWSGI
from allot.firstcome.models import Claim, Quota
from allot.firstcome.services import claim_create, quota_set
from tests.firstcome.hangzhou import SLUG, claim_body, claim_request

URL = f"/api/v1/campaigns/{SLUG}/claims"


class CountingDjango:
    """Django's WSGI handler (or ``handler``), counting the requests that reach it."""

    def __init__(self, handler=None) -> None:
        self.handler, self.calls = handler or WSGIHandler(), 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.handler(environ, start_response)


def call(app, body: dict, path: str = URL, language: str = "zh-hans",
         host: str = "testserver") -> tuple[str, dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(raw)), "SERVER_NAME": "testserver",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": host,
               "HTTP_ACCEPT_LANGUAGE": language, "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(raw),
               "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": True,
               "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0)}
    answer: list = []
    chunks = app(environ, lambda status, headers, exc_info=None: answer.extend([status, dict(headers)]))
    body_bytes = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return answer[0], answer[1], body_bytes


def _code(body: bytes) -> str:
    return json.loads(body)["errors"][0]["code"]


def _sell_out(campaign) -> None:
    for n in range(3):
        claim_create(campaign=campaign, request=claim_request(n))


@pytest.mark.django_db(transaction=True)
def test_once_sold_out_the_answer_is_replayed_without_django_and_is_the_same(hangzhou):
    # given
    _sell_out(hangzhou)
    django = CountingDjango()
    app = AdmissionWSGI(django)
    first = call(app, claim_body(8))   # Django finds no unit and sets the flag
    second = call(app, claim_body(9))  # Django answers from the flag, marked replayable
    calls = django.calls

    # when
    third = call(app, claim_body(10))

    # then
    assert first[0].startswith("409") and _code(first[2]) == "sold_out"
    assert third == second
    assert django.calls == calls
    assert Claim.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_replayed_sold_out_answer_is_per_language(hangzhou):
    # given
    _sell_out(hangzhou)
    app = AdmissionWSGI(CountingDjango())
    call(app, claim_body(8))
    chinese = call(app, claim_body(9), language="zh-hans")

    # when
    english = call(app, claim_body(10), language="en")

    # then
    assert _code(english[2]) == _code(chinese[2]) == "sold_out"
    assert english[1]["Content-Language"] == "en" != chinese[1]["Content-Language"]


@pytest.mark.django_db(transaction=True)
def test_raising_the_quota_drops_the_replayed_answer_and_the_next_claim_is_accepted(
        hangzhou, django_capture_on_commit_callbacks):
    # given
    _sell_out(hangzhou)
    app = AdmissionWSGI(CountingDjango())
    call(app, claim_body(8))
    call(app, claim_body(9))
    quota = Quota.objects.get()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        quota_set(campaign=hangzhou, day=quota.day, scope_key="city", units=4)
    status, _headers, _body = call(app, claim_body(10))

    # then
    assert status.startswith("201")
    assert Quota.objects.get().taken == 4


@pytest.mark.django_db(transaction=True)
def test_a_replayed_answer_expires_and_django_decides_again(hangzhou):
    # given
    _sell_out(hangzhou)
    django = CountingDjango()
    app = AdmissionWSGI(django)
    call(app, claim_body(8))
    call(app, claim_body(9))
    for key, reply in list(admission._replies.items()):
        admission._replies[key] = admission.AdmissionReply(until=time.monotonic() - 1, status=reply.status,
                                                           headers=reply.headers, body=reply.body)
    calls = django.calls

    # when
    call(app, claim_body(10))

    # then
    assert django.calls == calls + 1


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0)
@pytest.mark.django_db(transaction=True)
def test_past_the_cap_the_wrapper_answers_busy_with_retry_after_and_takes_nothing(hangzhou):
    # given: the default, no waiting room
    admission.replies_clear()
    django = CountingDjango()
    app = AdmissionWSGI(django)

    # when
    answers = [call(app, claim_body(n)) for n in range(20)]

    # then: a plain busy answer with a spread Retry-After, replayed without Django after the first of each kind
    assert all(a[0].startswith("503") and _code(a[2]) == "busy" for a in answers)
    assert {a[1]["Retry-After"] for a in answers} <= {"2", "3", "4", "5", "6"}
    assert all("queue" not in json.loads(a[2]) for a in answers)
    assert django.calls <= 3
    assert Claim.objects.count() == 0


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0, ALLOT_WAITROOM=True)
@pytest.mark.django_db(transaction=True)
def test_with_the_waiting_room_past_the_cap_the_wrapper_gives_places_in_line_and_takes_nothing(hangzhou):
    # given
    admission.replies_clear()
    django = CountingDjango()
    app = AdmissionWSGI(django)
    frozen = time.time()
    app.point.clock = lambda: frozen   # the line does not move while we look

    # when
    answers = [call(app, claim_body(n)) for n in range(20)]

    # then: the waiting room's answer (tests/firstcome/test_waitroom_http.py); Django built only the first one
    assert all(a[0].startswith("503") and _code(a[2]) == "busy" for a in answers)
    assert all(1 <= int(a[1]["Retry-After"]) <= 30 for a in answers)
    assert [json.loads(a[2])["queue"]["position"] for a in answers] == list(range(1, 21))
    assert django.calls == 1
    assert Claim.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_accepted_claim_goes_through_the_wrapper_and_is_never_replayed(hangzhou):
    # given
    django = CountingDjango()
    app = AdmissionWSGI(django)

    # when
    first = call(app, claim_body(1))
    again = call(app, claim_body(1))

    # then
    assert first[0].startswith("201") and again[0].startswith("409") and _code(again[2]) == "already_claimed"
    assert django.calls == 2
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_after_the_flags_lapse_the_wrapper_that_knew_the_sell_out_asks_the_record_once_and_says_sold_out(
        hangzhou, monkeypatch):
    # given: the campaign sold out (this process learned it: Django's claim found no unit), then a quiet spell
    # longer than every flag (this process's, its life shortened to 0.2 s; the shared copy; the kept answer)
    from concurrent.futures import ThreadPoolExecutor

    from django.core.cache import cache

    from allot.firstcome import gate, services

    monkeypatch.setattr(gate, "LOCAL_TTL", 0.2)
    _sell_out(hangzhou)
    assert _code(call(AdmissionWSGI(CountingDjango()), claim_body(8))[2]) == "sold_out"
    day = Quota.objects.get().day
    time.sleep(0.3)
    admission.replies_clear()
    cache.clear()
    assert not gate.is_sold_out(slug=SLUG, day=day, scope_key=gate.WHOLE)
    assert gate.whole_sold_out_seen(slug=SLUG) == day
    looks = []
    real = services.sold_out_recheck

    def look(**kw):   # a look that takes a moment, so that the other refusals meet it in flight
        looks.append(kw)
        time.sleep(0.1)
        return real(**kw)

    monkeypatch.setattr(services, "sold_out_recheck", look)

    # when: ten claims at once to a wrapper that admits none (as a process starting again under a crowd)
    with override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0):
        django = CountingDjango()
        app = AdmissionWSGI(django)
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda n: call(app, claim_body(n)), range(10, 20)))

    # then: "sold out for today" for each, as Django says it, not "busy, come back" (before: all ten busy); one look
    # at the record for all of them; the flag set again; nothing taken
    assert [(a[0][:3], _code(a[2])) for a in answers] == [("409", "sold_out")] * 10
    assert len(looks) == 1
    assert gate.is_sold_out(slug=SLUG, day=day, scope_key=gate.WHOLE)
    assert django.calls <= 10
    assert Claim.objects.count() == 3


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0)
@pytest.mark.django_db(transaction=True)
def test_a_wrapper_that_never_learned_of_the_sell_out_asks_the_record_before_it_says_busy(hangzhou, monkeypatch):
    # given: the day's units taken by claims this process's admission never saw (another process's), no flag here
    # nor in the shared copy, nothing kept; a wrapper that admits none (a crowd past its cap)
    from concurrent.futures import ThreadPoolExecutor

    from django.core.cache import cache

    from allot.firstcome import gate, selectors, services

    _sell_out(hangzhou)
    selectors.caches_clear()
    admission.replies_clear()
    cache.clear()
    assert gate.whole_sold_out_seen(slug=SLUG) is None
    looks = []
    real = services.sold_out_recheck

    def look(**kw):   # a look that takes a moment, so that the other refusals meet it in flight
        looks.append(kw)
        time.sleep(0.1)
        return real(**kw)

    monkeypatch.setattr(services, "sold_out_recheck", look)
    monkeypatch.setattr("allot.portal.firstcome_views.RECHECK_WAIT_UNSEEN", 1.0)   # (the look's moment, above)
    app = AdmissionWSGI(CountingDjango())

    # when: ten claims at once
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda n: call(app, claim_body(n)), range(10, 20)))

    # then: "sold out for today" for each (before: all ten "busy"); one look for all of them
    assert [(a[0][:3], _code(a[2])) for a in answers] == [("409", "sold_out")] * 10
    assert len(looks) == 1
    assert Claim.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_crowd_told_sold_out_from_the_kept_answer_keeps_the_wrapper_s_flag_from_lapsing(hangzhou, monkeypatch):
    # given: the campaign sold out, this process's flag set for 1 s, and Django's "sold out" answer kept until then
    from concurrent.futures import ThreadPoolExecutor

    from django.core.cache import cache

    from allot.firstcome import gate, services

    monkeypatch.setattr(gate, "LOCAL_TTL", 1.0)
    _sell_out(hangzhou)
    app = AdmissionWSGI(CountingDjango())
    assert _code(call(app, claim_body(8))[2]) == "sold_out"   # Django finds no unit: the flag is set
    assert _code(call(app, claim_body(9))[2]) == "sold_out"   # Django answers from the flag: kept
    day = Quota.objects.get().day
    until = gate.sold_out_until(slug=SLUG, day=day, scope_key=gate.WHOLE)
    assert until is not None
    time.sleep(max(0.0, until - admission.REFRESH_AHEAD + 0.1 - time.monotonic()))

    # when: the crowd goes on asking, within REFRESH_AHEAD of the kept answer's end
    replayed = [call(app, claim_body(n)) for n in (10, 11)]

    # then: the kept answer, and the flag set again before it lapsed
    assert [_code(a[2]) for a in replayed] == ["sold_out"] * 2
    refreshed = gate.sold_out_until(slug=SLUG, day=day, scope_key=gate.WHOLE)
    assert refreshed is not None and refreshed > until

    # and when: past the old flag's end, the shared copy gone, ten claims at once to a wrapper that admits none
    time.sleep(max(0.0, until + 0.05 - time.monotonic()))
    cache.clear()
    looks = []
    real = services.sold_out_recheck
    monkeypatch.setattr(services, "sold_out_recheck", lambda **kw: looks.append(kw) or real(**kw))
    with override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0):
        full = AdmissionWSGI(CountingDjango())
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda n: call(full, claim_body(n)), range(20, 30)))

    # then: "sold out for today" from the flag, with no look at the record needed (before: the flag had lapsed,
    # and the refusals waited for one)
    assert [(a[0][:3], _code(a[2])) for a in answers] == [("409", "sold_out")] * 10
    assert looks == []
    assert Claim.objects.count() == 3


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0)
@pytest.mark.django_db(transaction=True)
def test_the_wrapper_says_busy_again_once_the_record_shows_units_back_and_stops_asking(hangzhou, monkeypatch):
    # given: the sell-out learned, the flags lapsed, and a unit back on the record (an operator's top-up)
    from django.core.cache import cache

    from allot.firstcome import gate, services

    monkeypatch.setattr(gate, "LOCAL_TTL", 0.2)
    _sell_out(hangzhou)
    with override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=12):
        assert _code(call(AdmissionWSGI(CountingDjango()), claim_body(8))[2]) == "sold_out"
    time.sleep(0.3)
    admission.replies_clear()
    cache.clear()
    Quota.objects.update(units=4)
    looks = []
    real = services.sold_out_recheck
    monkeypatch.setattr(services, "sold_out_recheck", lambda **kw: looks.append(kw) or real(**kw))
    app = AdmissionWSGI(CountingDjango())

    # when
    answers = [call(app, claim_body(n)) for n in range(10, 14)]

    # then: busy, come back (a unit is left); the record asked once, then the process no longer takes the
    # campaign for sold out
    assert [_code(a[2]) for a in answers] == ["busy"] * 4
    assert len(looks) == 1
    assert gate.whole_sold_out_seen(slug=SLUG) is None
