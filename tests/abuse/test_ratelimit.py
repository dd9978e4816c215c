"""Rate limits keyed on ID hash, phone, session and (loosely) address; Redis when configured, else the
database; fail closed when Redis is down (issue 5 item 7)."""

from __future__ import annotations

import pytest

from allot.core.errors import DomainError
from allot.registrations.models import Registration
from allot.verification.models import RateCounter
from allot.verification.ratelimit import rate_count, rate_limit
from tests.abuse.conftest import CLOSED_PORT_URL
from tests.api.conftest import SLUG, ApiClient, assert_errors, registration_body

URL = f"/campaigns/{SLUG}/registrations"


def test_redis_counts_each_key_and_refuses_past_the_limit(db, redis_db14, settings):
    settings.ALLOT_RATE_LIMITS = {"t": {"id": (3, 60), "ip": (100, 60)}}

    client, prefix = redis_db14

    over = [rate_count(scope="t", keys={"id": "idx-1", "ip": "10.0.0.1"}) for _ in range(4)]

    assert over == [[], [], [], ["id"]]
    keys = client.keys(f"{prefix}:t:*")
    assert len(keys) == 2 and all(0 < client.ttl(k) <= 60 for k in keys)
    assert not any(b"idx-1" in k or b"10.0.0.1" in k for k in keys)
    assert not RateCounter.objects.exists()


def test_without_redis_the_counters_live_in_the_database(db, settings):
    settings.REDIS_URL = ""
    settings.ALLOT_RATE_LIMITS = {"t": {"phone": (2, 60)}}

    over = [rate_count(scope="t", keys={"phone": "p"}) for _ in range(3)]

    assert over == [[], [], ["phone"]]
    assert RateCounter.objects.get().count == 3


def test_an_empty_key_is_not_counted(db, settings):
    settings.REDIS_URL = ""
    settings.ALLOT_RATE_LIMITS = {"t": {"session": (1, 60)}}

    for _ in range(3):
        rate_limit(scope="t", keys={"session": ""})

    assert not RateCounter.objects.exists()


def test_limiter_fails_closed_with_503_when_redis_is_unreachable(db, settings):
    settings.REDIS_URL = CLOSED_PORT_URL

    with pytest.raises(DomainError) as exc:
        rate_limit(scope="register", keys={"ip": "10.0.0.1"})

    assert (exc.value.code, exc.value.status) == ("rate_limit_unavailable", 503)


def test_registration_api_answers_503_not_500_when_redis_is_down(xiamen, settings):
    settings.REDIS_URL = CLOSED_PORT_URL

    response = ApiClient().post(URL, registration_body(1))

    assert_errors(response, 503, "rate_limit_unavailable")
    assert not Registration.objects.exists()


def test_registration_page_answers_503_not_500_when_redis_is_down(xiamen, settings):
    from django.test import Client

    from tests.portal.test_resident_pages import form_data

    settings.REDIS_URL = CLOSED_PORT_URL

    response = Client().post(f"/c/{SLUG}/register/", form_data(1))

    assert response.status_code == 503
    assert not Registration.objects.exists()


def test_code_request_answers_503_when_redis_is_down(xiamen, settings):
    from tests.abuse.proof import solved
    from tests.conftest import make_id_number

    settings.REDIS_URL = CLOSED_PORT_URL

    response = ApiClient().post(f"/campaigns/{SLUG}/status/code",
                                {"id_number": make_id_number(seq=1), "altcha": solved("status_code")})

    assert_errors(response, 503, "rate_limit_unavailable")


# --- loopback: a scalper script against the API -------------------------------------------------------

def test_a_thousand_submissions_with_one_id_number_give_one_row(xiamen, redis_db14, settings):
    # given limits so loose that only the one-registration-per-person rule is left
    loose = (10_000, 3600)
    settings.ALLOT_RATE_LIMITS = {"register": {"ip": loose, "session": loose, "id": loose, "phone": loose}}
    api = ApiClient()

    # when one ID number is submitted 1,000 times, each with its own solved proof of work
    statuses = [api.post(URL, registration_body(1, outlet=("XM-SM-001", "XM-SM-002")[i % 2])).status_code
                for i in range(1000)]

    # then every answer is the same, there is one registration, and the SMS to the phone on file is capped
    from tests.abuse.proof import sms_texts
    from tests.conftest import make_phone

    assert set(statuses) == {202}
    assert Registration.objects.count() == 1
    assert len(sms_texts(make_phone(1))) <= 11  # the confirmation + at most 10 notices an hour


def test_a_thousand_id_numbers_from_one_client_are_throttled_as_configured(xiamen, redis_db14, settings):
    # given a per-address limit of 50 registrations (a window long enough not to roll over during the test)
    settings.ALLOT_RATE_LIMITS = {"register": {"ip": (50, 10**7)}}
    api = ApiClient()

    # when one client submits 1,000 different ID numbers
    statuses = [api.post(URL, registration_body(n)).status_code for n in range(1000)]

    # then the first 50 are received and the rest refused
    assert statuses[:50] == [202] * 50
    assert set(statuses[50:]) == {429}
    assert Registration.objects.count() == 50


def test_one_browser_session_is_throttled_before_the_loose_address_limit(xiamen, redis_db14, settings):
    from django.test import Client

    from allot.verification.ratelimit import DEFAULT_LIMITS
    from tests.portal.test_resident_pages import form_data

    # the configured session limit (20), in a window that cannot roll over during the test
    settings.ALLOT_RATE_LIMITS = {"register": {"session": (DEFAULT_LIMITS["register"]["session"][0], 10**7)}}

    browser = Client()
    statuses = [browser.post(f"/c/{SLUG}/register/", form_data(n)).status_code for n in range(1, 23)]

    assert statuses[:20] == [302] * 20 and statuses[20:] == [429, 429]
    assert Registration.objects.count() == 20
