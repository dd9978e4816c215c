"""No ID-number oracle (issue 5 item 6): what a registration attempt or a code request answers does not depend
on whether the ID number is registered, eligible or a winner; neither does how long it takes."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest

from allot.identity.models import EligibilityList
from allot.identity.services import PersonInput, person_upsert
from allot.registrations.models import Registration
from allot.registrations.services import registration_create, registration_submit
from allot.verification.models import OneTimeCode
from allot.verification.ratelimit import Client
from tests.abuse.proof import sms_texts, solved
from tests.api.conftest import SLUG, ApiClient, registration_body
from tests.conftest import make_id_number, make_phone, registration_request

LOOSE = (100_000, 3600)


@pytest.fixture
def loose_limits(settings):
    settings.ALLOT_RATE_LIMITS = {scope: {k: LOOSE for k in ("ip", "session", "id", "phone")}
                                  for scope in ("register", "status_code", "sms_phone", "code_verify")}


def _submit(xiamen, n: int, **over):
    return registration_submit(campaign=xiamen.campaign, request=registration_request(n, **over), proof=solved(),
                               client=Client("10.0.0.1", "s"))


def test_new_already_registered_in_cooldown_and_not_eligible_get_the_same_receipt(
        xiamen, loose_limits, django_capture_on_commit_callbacks):
    from allot.campaigns.selectors import draw_date_for
    from allot.campaigns.services import round_get_or_create, supply_set
    from allot.draws.services import draw_run_now
    from allot.identity.services import eligibility_import_csv

    # given resident 2 won today's draw, a 7-day cooldown, and a campaign open to a list with residents 1 and 2
    c = xiamen.campaign
    c.cooldown_days = 7
    c.save(update_fields=["cooldown_days"])
    supply_set(round_=round_get_or_create(campaign=c, draw_date=draw_date_for(c)), outlet=xiamen.outlets[0],
               packs=5)
    registration_create(campaign=c, request=registration_request(2))
    with django_capture_on_commit_callbacks(execute=True):
        draw_run_now(campaign=c)
    lst = EligibilityList.objects.create(code="xm-hukou", name="厦门户籍")
    eligibility_import_csv(eligibility_list=lst, text=f"id_number\n{make_id_number(seq=1)}\n{make_id_number(seq=2)}\n")
    c.eligibility_lists.add(lst)
    same_phone = {"phone": make_phone(9)}

    # when the four kinds of attempt come in with the same typed phone
    new = _submit(xiamen, 1, **same_phone)
    already = _submit(xiamen, 1, **same_phone)
    cooldown = _submit(xiamen, 2, **same_phone)
    not_eligible = _submit(xiamen, 3, **same_phone)

    # then the answers are equal, and only the new one created a registration
    assert new == already == cooldown == not_eligible
    assert Registration.objects.filter(person__id_masked__endswith=make_id_number(seq=1)[-4:]).count() == 1
    assert not Registration.objects.filter(person__id_masked__endswith=make_id_number(seq=3)[-4:]).exists()


def test_each_outcome_is_told_by_sms_only(xiamen, loose_limits):
    reg_new = _submit(xiamen, 1)
    reg = Registration.objects.get()
    _submit(xiamen, 1, phone=make_phone(2))  # someone else's phone, same ID number

    on_file, typed = sms_texts(make_phone(1)), sms_texts(make_phone(2))
    assert reg.number in on_file[0]
    assert "有人使用您的身份证号码再次预约" in on_file[1] and "139****0002" in on_file[1]
    assert reg.number not in " ".join(typed) and "已登记的手机" in typed[0]
    assert reg_new.phone_masked == "139****0001"


def test_a_registration_that_changes_the_phone_on_file_warns_the_previous_phone(xiamen, loose_limits):
    person_upsert(data=PersonInput(id_number=make_id_number(seq=1), phone=make_phone(1), name="张三"))

    _submit(xiamen, 1, phone=make_phone(5))

    assert "将登记手机号改为 139****0005" in sms_texts(make_phone(1))[-1]


def test_api_answers_for_a_registered_and_a_new_id_number_are_byte_identical(xiamen, loose_limits):
    api = ApiClient()
    url = f"/campaigns/{SLUG}/registrations"
    first = api.post(url, registration_body(1))

    again, other = api.post(url, registration_body(1)), api.post(url, registration_body(2, phone=make_phone(1)))

    assert first.status_code == again.status_code == other.status_code == 202
    assert first.content == again.content == other.content


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def test_code_request_takes_as_long_for_a_registered_as_for_an_unknown_id_number(xiamen, loose_limits):
    # given 100 people on file and 100 ID numbers nobody registered
    for n in range(100):
        person_upsert(data=PersonInput(id_number=make_id_number(seq=n), phone=make_phone(n), name="张三"))
    unknown = [make_id_number(birth="19950101", seq=n) for n in range(100)]
    api, url = ApiClient(), f"/campaigns/{SLUG}/status/code"
    proofs = [(solved("status_code"), solved("status_code")) for _ in range(100)]
    timings: dict[str, list[float]] = {"registered": [], "unknown": []}
    shapes = set()

    # when both are asked for, interleaved, each with its own proof of work
    for n in range(100):
        for kind, id_number, proof in (("registered", make_id_number(seq=n), proofs[n][0]),
                                       ("unknown", unknown[n], proofs[n][1])):
            started = time.perf_counter()
            response = api.post(url, {"id_number": id_number, "altcha": proof})
            timings[kind].append(time.perf_counter() - started)
            assert response.status_code == 202, response.content
            shapes.add((tuple(sorted(response.json())), len(response.json()["token"]), response.json()["detail"]))

    # then the answers have one shape and the 95th percentiles differ by less than 50 ms
    p95 = {k: _p95(v) for k, v in timings.items()}
    print(f"status/code p95 registered {p95['registered'] * 1000:.1f} ms, unknown {p95['unknown'] * 1000:.1f} ms, "
          f"difference {abs(p95['registered'] - p95['unknown']) * 1000:.1f} ms")
    assert len(shapes) == 1
    assert abs(p95["registered"] - p95["unknown"]) < 0.050
    assert OneTimeCode.objects.count() == 200
    assert OneTimeCode.objects.filter(person__isnull=True).count() == 100


def test_registration_takes_as_long_when_already_registered_as_when_new(xiamen, loose_limits):
    api, url = ApiClient(), f"/campaigns/{SLUG}/registrations"
    for n in range(100):
        registration_create(campaign=xiamen.campaign, request=registration_request(n))
    bodies = [(registration_body(n), registration_body(100 + n)) for n in range(100)]
    timings: dict[str, list[float]] = {"already": [], "new": []}

    for already, new in bodies:
        for kind, body in (("already", already), ("new", new)):
            started = time.perf_counter()
            response = api.post(url, body)
            timings[kind].append(time.perf_counter() - started)
            assert response.status_code == 202

    p95 = {k: _p95(v) for k, v in timings.items()}
    print(f"registrations p95 already {p95['already'] * 1000:.1f} ms, new {p95['new'] * 1000:.1f} ms, "
          f"difference {abs(p95['already'] - p95['new']) * 1000:.1f} ms")
    assert abs(p95["already"] - p95["new"]) < 0.050
    assert Registration.objects.count() == 200


def test_a_code_for_an_unknown_id_number_sends_nothing(xiamen, loose_limits):
    from allot.verification.models import SmsMessage

    ApiClient().post(f"/campaigns/{SLUG}/status/code", {"id_number": make_id_number(seq=1),
                                                         "altcha": solved("status_code")})

    assert not SmsMessage.objects.exists()
    assert OneTimeCode.objects.get().expires_at <= dt.datetime.now(tz=dt.UTC) + dt.timedelta(minutes=10)
