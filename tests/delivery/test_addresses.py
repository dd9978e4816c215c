"""Structured addresses from messy input, validated against the campaign's city (Hangzhou)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allot.core.errors import ValidationFailed
from allot.delivery.addresses import AddressInput, address_parse

CITY = "3301"
OK = {"district": "330106", "street": "330106001000", "committee": "330106001001", "building": "3"}


def _errors(**fields) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        address_parse(city_code=CITY, data=AddressInput(**{**OK, **fields}))
    return {e.field: e.code for e in exc.value.errors}


def test_full_width_digits_spaces_and_suffixes_are_normalised(hangzhou):
    a = address_parse(city_code=CITY, data=AddressInput(
        district=" 杭州市 西湖区 ", street="北山 街道", committee="北山社区", building="３号楼", unit="２ 单元",
        room="３０１室", line="  东门  快递柜 "))

    assert (a.district_code, a.street_name, a.committee_name) == ("330106", "北山街道", "北山社区")
    assert (a.building, a.unit, a.room, a.line) == ("3", "2", "301", "东门 快递柜")
    assert a.one_line("杭州市") == "杭州市西湖区北山街道北山社区3幢2单元301室东门 快递柜"


def test_a_missing_district_is_asked_for(hangzhou):
    assert _errors(district="")["district"] == "address_district_required"


def test_a_district_of_another_city_is_refused_with_that_city(hangzhou):
    with pytest.raises(ValidationFailed) as exc:
        address_parse(city_code=CITY, data=AddressInput(**{**OK, "district": "330203"}))

    assert exc.value.errors[0].code == "address_district_outside"
    assert "宁波市" in str(exc.value.errors[0].message)


def test_a_retired_district_code_names_its_successors(hangzhou):
    with pytest.raises(ValidationFailed) as exc:
        address_parse(city_code=CITY, data=AddressInput(**{**OK, "district": "330104"}))

    error = exc.value.errors[0]
    assert error.code == "address_retired_district"
    assert "上城区" in str(error.message) and "钱塘区" in str(error.message)


def test_a_retired_district_name_is_recognised_too(hangzhou):
    assert _errors(district="下城区")["district"] == "address_retired_district"


def test_the_2021_districts_are_current(hangzhou):
    a = address_parse(city_code=CITY, data=AddressInput(district="钱塘区", street="下沙街道", committee="下沙社区",
                                                        building="1"))

    assert a.district_code == "330114"


def test_an_unknown_district_is_refused(hangzhou):
    assert _errors(district="999999")["district"] == "address_district_unknown"


def test_a_street_of_another_district_is_a_mismatch(hangzhou):
    assert _errors(street="湖滨街道", committee="")["street"] == "address_street_mismatch"


def test_a_street_is_required_where_the_list_has_streets(hangzhou):
    assert _errors(street="")["street"] == "address_street_required"


def test_a_committee_of_another_street_is_a_mismatch(hangzhou):
    assert _errors(committee="330106004001")["committee"] == "address_committee_mismatch"


def test_building_is_required_and_room_is_checked(hangzhou):
    errors = _errors(building=" ", room="3-01室<script>")

    assert errors == {"building": "address_building_required", "room": "address_room_invalid"}


def test_the_last_line_is_limited(hangzhou):
    assert _errors(line="很" * 61)["line"] == "address_line_too_long"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # read-only
@given(digits=st.integers(min_value=1, max_value=9999), spaces=st.sampled_from(["", " ", "\u3000", "  "]))
def test_full_width_or_ascii_room_numbers_give_the_same_address(hangzhou, digits, spaces):
    full = "".join(chr(ord(c) + 0xFEE0) for c in str(digits))
    a = address_parse(city_code=CITY, data=AddressInput(**{**OK, "room": spaces + full + spaces + "室"}))
    b = address_parse(city_code=CITY, data=AddressInput(**{**OK, "room": str(digits)}))

    assert a == b
