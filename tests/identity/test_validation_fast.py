"""The short cuts in identity validation give exactly what the plain library calls gave.

``normalize_phone`` builds the ``PhoneNumber`` itself for the common spellings of a mainland mobile,
``normalize_id_number`` caches stdnum's birth-date answers, and ``blind_index`` reuses a keyed HMAC. Each is
compared here with the code it replaced, copied below unchanged (``_old_*``): the same normalised value, or a
``DomainError`` with the same code, field, status and message (rendered in both languages).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from pathlib import Path

import phonenumbers
import pytest
import stdnum.cn
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from hypothesis import example, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent

from allot.core.errors import DomainError
from allot.identity import crypto, validation
from allot.identity.crypto import blind_index
from allot.identity.validation import normalize_id_number, normalize_phone

# --- the replaced code, as it was ---------------------------------------------------------------------

_FULLWIDTH_LETTERS = {cp: cp - 0xFEE0 for cp in (*range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}
_FULLWIDTH = {**_FULLWIDTH_LETTERS, **{cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)}}
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212\uff0d"
_ID_SEPARATORS = {ord(c): None for c in _DASHES}
_PHONE_MAP = {**_FULLWIDTH, 0xFF0B: ord("+"), 0xFF08: ord("("), 0xFF09: ord(")"), 0xFF0E: ord("."),
              **{ord(c): ord("-") for c in _DASHES}}
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_PHONE_CHARS = re.compile(r"[0-9+()\-. ]+")


def _old_normalize_id_number(raw: str, *, today: datetime.date) -> str:
    number = "".join(str(raw).translate(_FULLWIDTH).translate(_ID_SEPARATORS).split()).upper()
    if not number:
        raise DomainError(_("Please enter the resident ID number."), code="id_number_required",
                          field="id_number")
    if not _ID_SHAPE.fullmatch(number):
        raise DomainError(
            _("The resident ID number must have 18 characters: 17 digits followed by a digit or the "
              "letter X. Please copy it from the ID card again."),
            code="id_number_format", field="id_number")
    if ric.calc_check_digit(number) != number[-1]:
        raise DomainError(
            _("The check digit of the resident ID number is not correct. Please check the number, especially "
              "the last character (a digit or the letter X)."),
            code="id_number_checksum", field="id_number")
    birth_date_error = DomainError(
        _("The date of birth in the resident ID number (characters 7 to 14, as YYYYMMDD) is not a valid "
          "past date. Please check these digits."),
        code="id_number_birth_date", field="id_number")
    try:
        born = ric.get_birth_date(number)
    except InvalidComponent:
        raise birth_date_error from None
    if born.year < 1900 or born > today:
        raise birth_date_error
    try:
        ric.get_birth_place(f"{number[:6]}{born.year:04d}01010000")
    except (InvalidComponent, KeyError):
        raise DomainError(
            _("The first 6 digits of the resident ID number (the region code) do not match any known area. "
              "Please check these digits."),
            code="id_number_region", field="id_number") from None
    return number


def _old_normalize_phone(raw: str) -> str:
    text = " ".join(str(raw).translate(_PHONE_MAP).split())
    if not text:
        raise DomainError(_("Please enter a mobile phone number."), code="phone_required", field="phone")
    invalid = DomainError(
        _("The mobile phone number is not valid. Please enter the 11-digit mainland China mobile number, "
          "for example 138 1234 5678."),
        code="phone_invalid", field="phone")
    if not _PHONE_CHARS.fullmatch(text):
        raise invalid
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise invalid from None
    if number.extension or not phonenumbers.is_valid_number(number):
        raise invalid
    if (phonenumbers.region_code_for_number(number) != "CN"
            or phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE):
        raise DomainError(
            _("Please enter a mainland China mobile number: 11 digits starting with 1. Landlines and numbers "
              "outside mainland China are not accepted."),
            code="phone_not_mobile", field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _old_blind_index(value: str, *, purpose: str) -> str:
    subkey = crypto._index_subkey(crypto._setting("ALLOT_BLIND_INDEX_KEY"), purpose)
    message = purpose.encode("ascii") + b"\x00" + value.encode("utf-8")
    return hmac.new(subkey, message, hashlib.sha256).hexdigest()


# --- comparing outcomes -------------------------------------------------------------------------------

def outcome(fn: object, *args: object, **kwargs: object) -> tuple[object, ...]:
    """``("ok", value)`` or the error with its message as constructed and rendered in both languages."""
    try:
        return ("ok", fn(*args, **kwargs))  # type: ignore[operator]
    except DomainError as error:
        with translation.override("en"):
            english = str(error.message)
        with translation.override("zh-hans"):
            chinese = str(error.message)
        return ("error", error.code, error.field, error.status, str(error), english, chinese)


def assert_phone_parity(raw: str) -> None:
    assert outcome(normalize_phone, raw) == outcome(_old_normalize_phone, raw), raw
    text = " ".join(raw.translate(_PHONE_MAP).split())
    if _PHONE_CHARS.fullmatch(text):
        fast = validation._common_mobile(text)
        if fast is not None:
            assert fast == phonenumbers.parse(text, "CN"), text  # raises if parse would have refused it


def assert_id_parity(raw: str, today: datetime.date) -> None:
    assert outcome(normalize_id_number, raw, today=today) == outcome(_old_normalize_id_number, raw, today=today), raw


# --- phones -------------------------------------------------------------------------------------------

_PREFIXES = ["", "+86", "0086", "86", "+", "0", "00", "8", "086", "860", "+860", "+0086", "++86", "+ 86", "(+86)",
             "(86)", "+86 0", "0086 0", "001", "+1", "+852", "+853", "+886", "1", "12593", "17951", "11800", "1790"]
_SEPARATORS = ["", "", "", " ", "-", "--", " - ", ".", "\u2013", "\uff0d", "\u3000", "  ", "\t"]
_FULLWIDTH_OF = {str(d): chr(0xFF10 + d) for d in range(10)} | {"+": "＋", "(": "（", ")": "）"}


def _spell(tokens: list[str], draw: st.DrawFn, separators: list[str]) -> str:
    """The characters of ``tokens`` with drawn separators between and around them."""
    out = [draw(st.sampled_from(separators))]
    for token in tokens:
        if draw(st.booleans()) and len(token) > 1:
            cut = draw(st.integers(1, len(token) - 1))
            token = token[:cut] + draw(st.sampled_from(separators)) + token[cut:]
        out += [token, draw(st.sampled_from(separators))]
    return "".join(out)


@st.composite
def phone_spellings(draw: st.DrawFn) -> str:
    """Half of them 11 digits starting with 1 written the common ways (the short cut's inputs, where a mistake
    would hide); the rest also too short or long, other prefixes and separators, landlines, foreign numbers,
    letters, extensions and full-width characters."""
    if draw(st.booleans()):
        digits = "1" + draw(st.text(alphabet="0123456789", min_size=10, max_size=10))
        prefix = draw(st.sampled_from(["", "+86", "0086", "86"]))
        return _spell([t for t in (prefix, digits[:3], digits[3:7], digits[7:]) if t], draw, ["", "", " ", "-"])
    length = draw(st.sampled_from([11, 11, 11, 10, 12, 9, 13, 7, 8]))
    first = draw(st.sampled_from(["1", "1", "1", "0", "2", "4", "8", "9"]))
    digits = first + draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    tokens = [draw(st.sampled_from(_PREFIXES)), digits[:3], digits[3:7], digits[7:]]
    text = _spell([t for t in tokens if t], draw, _SEPARATORS)
    if draw(st.integers(0, 4)) == 0:
        text = "".join(_FULLWIDTH_OF.get(c, c) if draw(st.booleans()) else c for c in text)
    return text + draw(st.sampled_from(["", "", "", "", "a", " ext 12", "#12", "x", ";ext=1", " 0", ".", "+"]))


_FOREIGN_AND_LANDLINES = [
    "010-6512-3456", "0592 5123456", "+1 650 253 0000", "+852 9123 4567", "+44 7911 123456", "+886 912 345 678",
    "+853 6612 3456", "+7 912 345 67 89", "+800 1234 5678", "400 810 8888", "95588", "10086", "+86 10 6512 3456",
    "0086 592 5123456", "86 592 5123456", "(0592) 5123456", "17951 13812345678", "1259313812345678",
    "+8617951 13812345678", "008613812345678 ", "+86+8613812345678", "861 3812345678", "13812345678" + "-" * 260,
    "+852 13812345678", "+1 13812345678", "+886 13812345678", "00852 13812345678", "852 13812345678",
]


@pytest.mark.parametrize("raw", _FOREIGN_AND_LANDLINES)
def test_landlines_foreign_and_carrier_prefixed_numbers_match_the_old_check(raw: str) -> None:
    assert_phone_parity(raw)


@pytest.mark.parametrize("start", [f"{n:03d}" for n in range(100, 200)])
def test_every_three_digit_start_of_a_mobile_matches_the_old_check(start: str) -> None:
    # Covers each mobile, carrier-selection (11xx, 12xx, 179xx) and unassigned range the metadata knows;
    # "34008613" makes 1[12]x34 00 86.. and 17934 00 86.. read as an international call by parse.
    for suffix in ("12345678", "00000000", "51234999", "99999999", "34008613"):
        number = start + suffix
        for spelling in (number, f"+86{number}", f"0086{number}", f"86{number}", f"+86 {number[:3]} {number[3:7]} "
                         f"{number[7:]}", f"0086-{number[:3]}-{number[3:7]}-{number[7:]}", f"86 {number}",
                         f"{number[:3]}-{number[3:]}", f"({number[:3]}) {number[3:]}", f"0{number}"):
            assert_phone_parity(spelling)


def test_eleven_digits_with_any_two_digit_start_match_the_old_check() -> None:
    # Landlines and service numbers have 11 digits too, and "86..." may be read as the country code.
    for start in range(100):
        for suffix in ("123456789", "000000000", "512349990", "592512345"):
            number = f"{start:02d}{suffix}"
            for spelling in (number, f"+86{number}", f"86{number}", f"0086 {number}", f"{number[:3]} {number[3:]}"):
                assert_phone_parity(spelling)


@settings(max_examples=1500)
@given(phone_spellings())
@example("13812345678")
@example("+86 138-1234-5678")
@example("8613812345678")
@example("0086 13812345678")
def test_phone_spellings_match_the_old_check(raw: str) -> None:
    assert_phone_parity(raw)


@settings(max_examples=300)
@given(st.one_of(st.text(), st.text(alphabet="0123456789+-(). ０１２３４５６７８９＋（）ab#", max_size=30)))
def test_arbitrary_phone_text_matches_the_old_check(raw: str) -> None:
    assert_phone_parity(raw)


def test_a_number_too_long_for_the_parser_is_not_taken_by_the_short_cut() -> None:
    # parse refuses more than 250 characters: the hyphens make it invalid, however well the digits read.
    raw = "138-1234-5678" + "-" * 250
    assert outcome(normalize_phone, raw)[1] == "phone_invalid"
    assert_phone_parity(raw)


def test_the_short_cut_takes_the_common_spellings() -> None:
    # Without this the parity tests above would pass with the short cut switched off.
    for text in ("13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "8613812345678", "+86-19912345678"):
        fast = validation._common_mobile(text)
        assert fast is not None
        assert fast == phonenumbers.parse(text, "CN")


def test_carrier_and_national_prefixes_are_left_to_the_parser() -> None:
    for text in ("17951381234", "12593812345", "11812345678", "01381234567", "+86 17951381234",
                 "0086 12593812345", "86 11812345678"):
        assert validation._common_mobile(text) is None


# --- ID numbers ---------------------------------------------------------------------------------------

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"


def _check_char(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def _stdnum_regions() -> list[str]:
    """Every region code in stdnum's table (current and abolished)."""
    codes, province = [], ""
    for line in (Path(stdnum.cn.__file__).parent / "loc.dat").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith(" "):
            codes.append(province + line.split()[0])
        else:
            province = line.split()[0]
    return codes


_REGIONS = _stdnum_regions()
_BIRTH_DATES = st.one_of(
    st.dates(datetime.date(1890, 1, 1), datetime.date(2030, 12, 31)).map(lambda d: d.strftime("%Y%m%d")),
    st.builds("{:04d}{:02d}{:02d}".format, st.integers(1880, 2040), st.integers(0, 19), st.integers(0, 39)),
    st.sampled_from(["19000101", "18991231", "20000229", "19000229", "21000229", "20240229", "20230229"]),
)


@st.composite
def id_spellings(draw: st.DrawFn) -> str:
    """Real and made-up region codes, possible and impossible birth dates, right and wrong check characters,
    then lower-case x, full-width characters, spaces and hyphens."""
    region = draw(st.one_of(st.sampled_from(_REGIONS), st.sampled_from(["999999", "359999", "000000", "110000"]),
                            st.text(alphabet="0123456789", min_size=6, max_size=6)))
    first17 = region + draw(_BIRTH_DATES) + draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    last = _check_char(first17) if draw(st.integers(0, 3)) else draw(st.sampled_from("0123456789X"))
    number = first17 + last
    if draw(st.integers(0, 4)) == 0:
        number = number[:draw(st.integers(0, 18))] + draw(st.text(alphabet="0123456789Xx", max_size=2))
    spelled = []
    for ch in number:
        if draw(st.integers(0, 9)) == 0:
            spelled.append(draw(st.sampled_from([" ", "-", "\u3000", "\uff0d", "\u2013", "\n"])))
        spelled.append(draw(st.sampled_from([ch, ch, ch, chr(ord(ch) + 0xFEE0), ch.lower()])))
    return "".join(spelled)


_TODAYS = st.sampled_from([datetime.date(2025, 6, 1), datetime.date(1990, 1, 1), datetime.date(2024, 2, 29),
                           datetime.date(2040, 1, 1)])


@settings(max_examples=1500)
@given(id_spellings(), _TODAYS)
def test_id_number_spellings_match_the_old_check(raw: str, today: datetime.date) -> None:
    assert_id_parity(raw, today)


@settings(max_examples=300)
@given(st.one_of(st.text(), st.text(alphabet="0123456789xX -ｘ０１２３４５６７８９\u3000", max_size=25)), _TODAYS)
def test_arbitrary_id_text_matches_the_old_check(raw: str, today: datetime.date) -> None:
    assert_id_parity(raw, today)


def test_a_cached_birth_date_is_still_compared_with_each_days_today() -> None:
    first17 = "110101" + "20240102" + "123"
    number = first17 + _check_char(first17)
    assert normalize_id_number(number, today=datetime.date(2024, 1, 2)) == number
    assert outcome(normalize_id_number, number, today=datetime.date(2024, 1, 1))[1] == "id_number_birth_date"
    assert_id_parity(number, datetime.date(2024, 1, 1))


def test_every_region_code_matches_the_old_check_across_the_years() -> None:
    for region in _REGIONS:
        for birth in ("19200101", "19830101", "19951231", "20110101"):
            first17 = region + birth + "042"
            assert_id_parity(first17 + _check_char(first17), datetime.date(2025, 6, 1))


# --- blind index --------------------------------------------------------------------------------------

@settings(max_examples=300)
@given(st.text(), st.sampled_from(["id_number", "phone", "otp_code", "a.b_c"]))
def test_blind_index_matches_the_hmac_of_purpose_and_value(value: str, purpose: str) -> None:
    assert blind_index(value, purpose=purpose) == _old_blind_index(value, purpose=purpose)


def test_blind_index_follows_a_changed_key(settings: object) -> None:
    before = blind_index("+8613812345678", purpose="phone")
    settings.ALLOT_BLIND_INDEX_KEY = crypto.generate_key()  # type: ignore[attr-defined]
    after = blind_index("+8613812345678", purpose="phone")
    assert after != before
    assert after == _old_blind_index("+8613812345678", purpose="phone")


def test_blind_index_of_a_value_utf8_cannot_encode_still_fails() -> None:
    with pytest.raises(UnicodeEncodeError):
        blind_index("\ud800", purpose="phone")
