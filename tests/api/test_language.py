"""Error messages follow the request language: Chinese by default, English with Accept-Language: en."""

from __future__ import annotations

import pytest

from tests.api.conftest import SLUG, assert_errors, registration_body
from tests.conftest import make_id_number

URL = f"/campaigns/{SLUG}/registrations"
BAD_CHECKSUM = make_id_number(seq=1)[:-1] + ("1" if make_id_number(seq=1)[-1] != "1" else "2")


def _message(response, code: str) -> str:
    return next(e["message"] for e in response.json()["errors"] if e["code"] == code)


def test_domain_error_message_is_chinese_by_default(xiamen, client_api):
    response = client_api.post(URL, registration_body(1, id_number=BAD_CHECKSUM))

    assert_errors(response, 400, "id_number_checksum")
    assert _message(response, "id_number_checksum").startswith("身份证号码校验位不正确")


def test_domain_error_message_is_english_with_accept_language_en(xiamen, client_api):
    response = client_api.post(URL, registration_body(1, id_number=BAD_CHECKSUM), **{"Accept-Language": "en"})

    assert _message(response, "id_number_checksum").startswith("The check digit of the resident ID number")


@pytest.mark.parametrize(("language", "expected"), [(None, "未知字段"), ("en", "Unknown field")])
def test_request_validation_message_follows_the_language(xiamen, client_api, language, expected):
    headers = {"Accept-Language": language} if language else {}

    response = client_api.post(URL, registration_body(1, extra="x"), **headers)

    assert _message(response, "unexpected_field").startswith(expected)


@pytest.mark.parametrize(("language", "expected"), [("zh-Hans", "没有这个活动"), ("en", "There is no such campaign")])
def test_not_found_message_follows_the_language(db, client_api, language, expected):
    response = client_api.get("/campaigns/nope", **{"Accept-Language": language})

    assert _message(response, "campaign_not_found").startswith(expected)


def test_unauthenticated_message_is_chinese_by_default(db, client_api):
    response = client_api.post("/pickup/redeem", {"code": "ABCDEFGHJK"})

    assert _message(response, "unauthenticated").startswith("请先登录")
