"""Reading a pasted free-text address into the structured fields (``address_guess``), against the small Hangzhou
of tests/firstcome/hangzhou.py: only names on the imported lists are placed, a street only within its district,
and everything that could not be placed is said."""

from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allot.delivery.addresses import address_guess, address_parse, gazetteer
from allot.places.services import places_import_csv

CITY = "3301"
XIHU, BEISHAN, BEISHAN_COMMUNITY, SHUGUANG = "330106", "330106001000", "330106001001", "330106001002"


def guess(text: str):
    with translation.override("zh-hans"):
        return address_guess(city_code=CITY, text=text)


def codes(g) -> list[str]:
    return [n.code for n in g.unplaced]


def note(g, code: str) -> str:
    return next(str(n.message) for n in g.unplaced if n.code == code)


def test_a_full_address_fills_every_field(hangzhou):
    g = guess("浙江省杭州市西湖区北山街道北山社区 3幢2单元301室")

    assert (g.district_code, g.street_code, g.committee_code) == (XIHU, BEISHAN, BEISHAN_COMMUNITY)
    assert (g.district_name, g.street_name, g.committee_name) == ("西湖区", "北山街道", "北山社区")
    assert (g.building, g.unit, g.room, g.line) == ("3", "2", "301", "")
    assert g.unplaced == ()


def test_the_guess_is_an_address_that_validates(hangzhou):
    g = guess("杭州市西湖区北山街道曙光社区5栋1单元502室 东门快递柜")

    a = address_parse(city_code=CITY, data=g.as_input())

    assert a.one_line("杭州市") == "杭州市西湖区北山街道曙光社区5幢1单元502室东门快递柜"


def test_spaces_full_width_digits_and_no_province_or_city(hangzhou):
    g = guess("西湖区　北山街道 北山社区 １２号楼 １单元 ５０２")

    assert (g.district_code, g.street_code, g.committee_code) == (XIHU, BEISHAN, BEISHAN_COMMUNITY)
    assert (g.building, g.unit, g.room, g.line) == ("12", "1", "502", "")


@pytest.mark.parametrize(("written", "expected"), [
    ("3幢2单元301室", ("3", "2", "301")),
    ("3栋2单元301", ("3", "2", "301")),
    ("3号楼 2单元 301号", ("3", "2", "301")),
    ("3# 2单元 301", ("3", "2", "301")),
    ("3-2-301", ("3", "2", "301")),
    ("3幢2-301", ("3", "2", "301")),
    ("三幢二单元三〇一室", ("3", "2", "301")),
    ("十二幢一单元", ("12", "1", "")),
    ("A座1201室", ("A", "", "1201")),
    ("7幢302", ("7", "", "302")),
])
def test_building_unit_and_room_as_people_write_them(hangzhou, written, expected):
    g = guess(f"杭州 西湖区北山街道北山社区{written}")

    assert (g.building, g.unit, g.room) == expected
    assert g.line == ""


def test_a_community_alone_tells_its_street_and_district(hangzhou):
    g = guess("北山社区３栋２单元３０１")

    assert (g.district_code, g.street_code, g.committee_code) == (XIHU, BEISHAN, BEISHAN_COMMUNITY)
    assert g.unplaced == ()


def test_a_name_not_on_the_list_stays_in_the_line_and_is_said(hangzhou):
    g = guess("杭州 西湖区 文三路社区 12号楼 1单元 502")

    assert (g.district_code, g.street_code, g.committee_code) == (XIHU, "", "")
    assert (g.building, g.unit, g.room, g.line) == ("12", "1", "502", "文三路社区")
    assert "address_committee_unknown" in codes(g) and "address_street_required" in codes(g)
    assert "文三路社区" in note(g, "address_committee_unknown")


def test_a_street_of_another_district_is_not_placed_and_said_so(hangzhou):
    g = guess("杭州市上城区北山街道3幢")

    assert (g.district_code, g.street_code, g.committee_code) == ("330102", "", "")
    assert "北山街道" not in g.line
    assert "西湖区" in note(g, "address_street_mismatch") and "上城区" in note(g, "address_street_mismatch")


def test_a_community_of_another_street_is_not_placed_and_said_so(hangzhou):
    g = guess("西湖区西溪街道北山社区3幢")

    assert (g.street_code, g.committee_code) == ("330106004000", "")
    assert "北山街道" in note(g, "address_committee_mismatch")


def test_a_district_of_another_city_is_not_placed_and_said_so(hangzhou):
    g = guess("浙江省宁波市海曙区鼓楼街道 3幢")

    assert (g.district_code, g.street_code, g.committee_code) == ("", "", "")
    assert "address_district_outside" in codes(g)
    assert any("宁波市" in str(n.message) and "杭州市" in str(n.message) for n in g.unplaced)
    assert "address_district_required" not in codes(g)  # it says where the place is instead


def test_a_street_of_our_city_after_another_citys_district_is_not_placed(hangzhou):
    g = guess("宁波市海曙区北山街道3幢")

    assert (g.district_code, g.street_code) == ("", "")
    assert "address_district_outside" in codes(g)


def test_a_retired_district_name_fills_in_its_successor_and_says_so(hangzhou):
    g = guess("杭州市下城区 5幢1单元101")

    assert g.district_code == "330105"  # 拱墅区
    message = note(g, "address_retired_district")
    assert "下城区" in message and "拱墅区" in message and "2021" in message


def test_a_district_split_in_two_is_told_by_the_street(hangzhou):
    g = guess("杭州市江干区下沙街道下沙社区1幢1单元101")

    assert (g.district_code, g.street_code, g.committee_code) == ("330114", "330114001000", "330114001001")
    assert "钱塘区" in note(g, "address_retired_district")


def test_a_district_split_in_two_without_a_street_is_left_to_choose(hangzhou):
    g = guess("江干区 3幢")

    assert g.district_code == ""
    message = note(g, "address_retired_district")
    assert "上城区" in message and "钱塘区" in message


def test_nothing_recognisable_fills_nothing_and_says_so(hangzhou):
    g = guess("请尽快发货，谢谢！")

    assert g == type(g)(unplaced=g.unplaced)
    assert codes(g) == ["address_nothing_found"]
    assert not g.found


def test_a_phone_number_and_the_recipient_are_left_out(hangzhou):
    g = guess("收货人：王小五 手机号码：139 1234 5678\n所在地区：浙江省杭州市西湖区\n"
              "详细地址：北山街道曙光社区3-2-301 东门快递柜")

    assert (g.committee_code, g.building, g.unit, g.room) == (SHUGUANG, "3", "2", "301")
    assert g.line == "东门快递柜"
    assert {"address_phone_left_out", "address_name_left_out"} <= set(codes(g))
    everything = repr(g)
    assert "1234" not in everything and "王小五" not in everything


def test_the_longest_name_wins(hangzhou):
    # given a town (瓜沥镇) with a community named after it (瓜沥镇社区)
    places_import_csv(text="district_code,street_code,street_name,committee_code,committee_name\n"
                           "330109,330109100000,瓜沥镇,330109100001,瓜沥镇社区\n"
                           "330109,330109100000,瓜沥镇,330109100002,明朗村\n")

    g = guess("萧山区瓜沥镇社区8幢")

    assert (g.district_code, g.street_code, g.committee_code) == ("330109", "330109100000", "330109100001")
    assert g.line == ""


def test_a_street_beats_the_short_name_of_its_district(hangzhou):
    # given a street whose name starts with its district's short name (余杭 / 余杭街道)
    places_import_csv(text="district_code,street_code,street_name,committee_code,committee_name\n"
                           "330110,330110001000,余杭街道,330110001001,凤凰山社区\n")

    g = guess("杭州余杭街道凤凰山社区8幢")

    assert (g.district_code, g.street_code, g.committee_code) == ("330110", "330110001000", "330110001001")
    assert g.line == ""


def test_the_short_name_of_a_district_counts_only_on_its_own(hangzhou):
    assert guess("杭州 西湖 北山街道北山社区3幢").district_code == XIHU
    assert guess("西湖文化广场3幢").district_code == ""


def test_the_notes_follow_the_language(hangzhou):
    with translation.override("en"):
        g = address_guess(city_code=CITY, text="上城区北山街道3幢")

    assert "is in 西湖区, not in 上城区" in next(str(n.message) for n in g.unplaced)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # read-only
@given(committee=st.sampled_from(["330106001001", "330106001002", "330106004001", "330102001001", "330114001001"]),
       prefix=st.sampled_from(["", "杭州", "杭州市", "浙江省杭州市", "浙江 杭州 "]),
       with_district=st.booleans(), with_street=st.booleans(), full_width=st.booleans(),
       space=st.sampled_from(["", " ", "\u3000", "\n"]),
       building=st.integers(1, 99), unit=st.integers(1, 9), room=st.integers(101, 3299),
       building_word=st.sampled_from(["幢", "栋", "号楼"]), room_word=st.sampled_from(["", "室", "号"]))
def test_any_listed_address_written_any_usual_way_is_read_back(hangzhou, committee, prefix, with_district,
                                                               with_street, full_width, space, building, unit,
                                                               room, building_word, room_word):
    g0 = gazetteer(CITY)
    _cid, committee_name, street = g0.committees[committee]
    _sid, street_name, district = g0.streets[street]
    numbers = f"{building}{building_word}{space}{unit}单元{space}{room}{room_word}"
    if full_width:
        numbers = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in numbers)
    parts = [prefix, g0.districts[district] if with_district else "", street_name if with_street else "",
             committee_name, numbers]
    text = space.join(p for p in parts if p)

    g = address_guess(city_code=CITY, text=text)

    assert (g.district_code, g.street_code, g.committee_code) == (district, street, committee)
    assert (g.building, g.unit, g.room, g.line) == (str(building), str(unit), str(room), "")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200) | st.lists(st.sampled_from(
    ["西湖区", "北山街道", "北山社区", "下城区", "江干区", "宁波市", "海曙区", "3幢", "2单元", "301室", "-", " ", "号",
     "十", "#", "13912345678", "收货人:", "文三路", "上城区", "湖滨街道", "东坡路社区"]), max_size=12).map("".join))
def test_any_text_gives_a_consistent_guess(hangzhou, text):
    g0 = gazetteer(CITY)

    g = address_guess(city_code=CITY, text=text)

    if g.street_code:
        assert g0.streets[g.street_code][2] == g.district_code
    if g.committee_code:
        assert g0.committees[g.committee_code][2] == g.street_code
    assert not g.district_code or g.district_code in g0.districts
    assert all(n.code.startswith("address_") for n in g.unplaced)
