"""The waiting room over HTTP: the claim API through ``AdmissionWSGI`` (config/wsgi.py) with the
``Allot-Queue-Token`` header, and the claim page through ``AdmissionMiddleware`` with its cookie."""

from __future__ import annotations

import io
import json
import sys
import time
import uuid

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings

from allot.core import admission, waitroom
from allot.core.admission import AdmissionMiddleware, AdmissionWSGI
from allot.core.waitroom import token_read
from allot.firstcome.models import Claim
from allot.firstcome.services import claim_create
from tests.firstcome.hangzhou import REDIS_DOWN_URL, SLUG, claim_body, claim_request
from tests.firstcome.test_admission_wsgi import CountingDjango


@pytest.fixture(autouse=True)
def _waiting_room_on(settings):
    """The waiting room is off by default (docs/adr/0008-waiting-room.md, amendment); these tests switch it on."""
    settings.ALLOT_WAITROOM = True


URL = f"/api/v1/campaigns/{SLUG}/claims"
PAGE = f"/c/{SLUG}/claim/"


def call(app, body: dict, *, token: str | None = None, language: str = "zh-hans"):
    raw = json.dumps(body).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": URL, "SCRIPT_NAME": "", "QUERY_STRING": "",
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(raw)), "SERVER_NAME": "testserver",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "testserver",
               "HTTP_ACCEPT_LANGUAGE": language, "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(raw),
               "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": True,
               "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0)}
    if token is not None:
        environ["HTTP_ALLOT_QUEUE_TOKEN"] = token
    answer: list = []
    chunks = app(environ, lambda status, headers, exc_info=None: answer.extend([status, dict(headers)]))
    data = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return int(answer[0][:3]), answer[1], data


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def wrapper(clock: Clock | None = None) -> tuple[AdmissionWSGI, CountingDjango]:
    django = CountingDjango()
    app = AdmissionWSGI(django)
    app.point.clock = clock or Clock()   # frozen unless the test moves it
    return app, django


def _queue(data: bytes) -> dict:
    body = json.loads(data)
    assert [e["code"] for e in body["errors"]] == ["busy"]
    return body["queue"]


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0)
@pytest.mark.django_db(transaction=True)
def test_past_the_cap_the_api_gives_a_place_in_line_in_the_body_and_the_header(hangzhou):
    # given
    app, django = wrapper()

    # when
    first = call(app, claim_body(1))             # built by Django
    second = call(app, claim_body(2))            # built by the wrapper from Django's template

    # then
    for n, (status, headers, data) in enumerate((first, second), start=1):
        queue = _queue(data)
        assert status == 503
        assert queue["position"] == n and queue["retry_after"] == int(headers["Retry-After"])
        assert queue["token"] == headers["Allot-Queue-Token"]
        assert queue["wait_ms"] == int(headers["Allot-Queue-Wait-Ms"]) and 1 <= queue["wait_ms"] <= 1000 * 30
        assert token_read(queue["token"], scope="wsgi").seq == n
        assert f"第 {n} 位" in json.loads(data)["errors"][0]["message"]
        assert headers["Content-Length"] == str(len(data)) and headers["Cache-Control"] == "no-store"
    assert set(first[1]) == set(second[1]) and first[1]["Content-Language"] == "zh-hans"
    assert django.calls == 1
    assert Claim.objects.count() == 0


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0)
@pytest.mark.django_db(transaction=True)
def test_the_busy_answer_is_in_the_language_asked_for(hangzhou):
    app, _django = wrapper()

    english = call(app, claim_body(1), language="en")
    chinese = call(app, claim_body(2))

    assert "you are number 1 in line" in json.loads(english[2])["errors"][0]["message"]
    assert english[1]["Content-Language"] == "en" and chinese[1]["Content-Language"] == "zh-hans"


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=1)
@pytest.mark.django_db(transaction=True)
def test_a_ticket_whose_turn_has_come_is_admitted_and_a_newcomer_waits_behind(hangzhou):
    # given: the only slot is busy; residents 1 and 2 get numbers 1 and 2
    clock = Clock()
    app, _django = wrapper(clock)
    assert app.point.slots.take()
    one = _queue(call(app, claim_body(1))[2])
    two = _queue(call(app, claim_body(2))[2])
    app.point.slots.give()
    clock.now += 1.5 / app.point.slots.rate     # the line moved by one and a half

    # when
    two_again = call(app, claim_body(2), token=two["token"])
    newcomer = call(app, claim_body(3))
    one_again = call(app, claim_body(1), token=one["token"])

    # then
    assert (one["position"], two["position"]) == (1, 2)
    assert two_again[0] == 503 and token_read(_queue(two_again[2])["token"], scope="wsgi").seq == 2
    assert newcomer[0] == 503 and token_read(_queue(newcomer[2])["token"], scope="wsgi").seq == 3
    assert one_again[0] == 201
    assert Claim.objects.count() == 1


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bad", ["tampered", "nonsense", "", "é" * 60])
def test_an_invalid_token_counts_as_no_token_and_is_never_an_error(hangzhou, bad):
    app, _django = wrapper()
    token = _queue(call(app, claim_body(1))[2])["token"]
    if bad == "tampered":
        bad = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]

    status, _headers, data = call(app, claim_body(2), token=bad)

    assert status == 503 and _queue(data)["position"] == 2


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=1)
@pytest.mark.django_db(transaction=True)
def test_sold_out_answers_a_ticket_holder_at_once_like_everyone(hangzhou):
    # given: resident 1 got a number; then the quota sold out, and the answer is being replayed
    clock = Clock()
    app, django = wrapper(clock)
    assert app.point.slots.take()
    token = _queue(call(app, claim_body(1))[2])["token"]
    app.point.slots.give()
    for n in range(3):
        claim_create(campaign=hangzhou, request=claim_request(10 + n))
    clock.now += 60
    call(app, claim_body(8))    # Django finds no unit left
    call(app, claim_body(9))    # from the flag, replayable
    calls = django.calls

    # when
    status, _headers, data = call(app, claim_body(1), token=token)

    # then
    assert (status, json.loads(data)["errors"][0]["code"]) == (409, "sold_out")
    assert django.calls == calls


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0, ALLOT_WAITROOM=False)
@pytest.mark.django_db(transaction=True)
def test_with_the_waiting_room_off_the_answer_is_the_plain_busy(hangzhou):
    app, _django = wrapper()

    answers = [call(app, claim_body(n)) for n in range(5)]

    assert all(s == 503 and "queue" not in json.loads(d) and "Allot-Queue-Token" not in h for s, h, d in answers)
    assert all(2 <= int(h["Retry-After"]) <= 6 for _s, h, _d in answers)


# --- several processes, Redis ----------------------------------------------------------------------------

@pytest.fixture
def shared_line(redis_store, settings):
    """Redis for the claims (database 15, as the other first-come tests) and a fresh key prefix for the line."""
    prefix = f"allot-test:{uuid.uuid4().hex}:wr"
    settings.ALLOT_WAITROOM_PREFIX = prefix
    settings.ALLOT_WAITROOM_SHARED = True
    return redis_store


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=1)
@pytest.mark.django_db(transaction=True)
def test_with_redis_a_ticket_of_one_process_is_honoured_by_another(hangzhou, shared_line):
    # given: two app processes (two wrappers); process a's slot is busy and it hands out number 1
    clock = Clock()
    a, _ = wrapper(clock)
    b, _ = wrapper(clock)
    assert a.point.slots.take()
    one = _queue(call(a, claim_body(1))[2])
    clock.now += 1.0

    # when: the resident comes back to process b
    status, _headers, _data = call(b, claim_body(1), token=one["token"])

    # then
    assert status == 201
    assert Claim.objects.count() == 1


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=1)
@pytest.mark.django_db(transaction=True)
def test_with_redis_down_the_api_answers_the_plain_busy_and_never_more_than_the_cap(hangzhou, settings):
    settings.REDIS_URL = REDIS_DOWN_URL
    settings.ALLOT_WAITROOM_SHARED = True
    waitroom._down_until.clear()
    app, django = wrapper()
    assert app.point.slots.take()     # the one slot is busy

    answers = [call(app, claim_body(n)) for n in range(5)]

    assert all(s == 503 and "queue" not in json.loads(d) for s, _h, d in answers)
    assert all(2 <= int(h["Retry-After"]) <= 6 for _s, h, _d in answers)
    assert django.calls <= 3 and Claim.objects.count() == 0   # Django built one busy answer per Retry-After value
    waitroom._down_until.clear()


# --- the claim page --------------------------------------------------------------------------------------

@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0)
def test_past_the_cap_the_claim_page_gives_a_place_in_line_in_a_cookie(hangzhou):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")

    first = client.post(PAGE, claim_body(1))
    again = client.post(PAGE, claim_body(1))      # the browser sends the cookie back

    cookie = first.cookies[admission.QUEUE_COOKIE]
    assert first.status_code == 503 and 1 <= int(first["Retry-After"]) <= 30
    assert (cookie["httponly"], cookie["samesite"], cookie["path"]) == (True, "Lax", PAGE)
    assert int(cookie["max-age"]) == waitroom.token_seconds()
    body = first.content.decode()
    assert "第 1 位" in body and f"{first['Retry-After']} 秒后再次点击" in body and "返回" in body
    renewed = again.cookies[admission.QUEUE_COOKIE].value
    assert token_read(renewed, scope="django").seq == token_read(cookie.value, scope="django").seq == 1
    assert Claim.objects.count() == 0


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=0)
def test_the_claim_page_says_the_place_in_line_in_english(hangzhou):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(PAGE, claim_body(1))

    body = response.content.decode()
    assert "You are number 1 in line" in body and "back button" in body and 'lang="en"' in body


@override_settings(ALLOT_ADMISSION_MAX_IN_FLIGHT=1)
def test_the_claim_page_admits_the_cookie_holder_and_drops_the_spent_ticket(hangzhou):
    # given: the slot is busy; a resident gets a number in a cookie
    middleware = AdmissionMiddleware(lambda request: HttpResponse("the claim view"))
    clock = Clock()
    middleware.point.clock = clock
    assert middleware.point.slots.take()
    factory = RequestFactory(HTTP_ACCEPT_LANGUAGE="zh-hans")
    refused = middleware(factory.post(PAGE, claim_body(1)))
    middleware.point.slots.give()
    clock.now += 1.0

    # when: the resident presses the button again
    request = factory.post(PAGE, claim_body(1))
    request.COOKIES[admission.QUEUE_COOKIE] = refused.cookies[admission.QUEUE_COOKIE].value
    response = middleware(request)

    # then
    assert refused.status_code == 503
    assert response.content == b"the claim view"
    spent = response.cookies[admission.QUEUE_COOKIE]
    assert (spent.value, spent["max-age"], spent["path"]) == ("", 0, PAGE)


@pytest.mark.django_db(transaction=True)
def test_the_claim_api_goes_to_the_api_handler_when_one_is_given(hangzhou):
    full, api = CountingDjango(), CountingDjango()
    app = AdmissionWSGI(full, api_app=api)

    status, _headers, _data = call(app, claim_body(1))

    assert status == 201 and (full.calls, api.calls) == (0, 1)
