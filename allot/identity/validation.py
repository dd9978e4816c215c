"""Parsing of messy resident input: resident ID numbers (居民身份证号码), mobile phones and names.

Each ``normalize_*`` function returns the canonical form or raises ``DomainError`` (status 400) with a
stable ``code`` and ``field`` and a translatable message that says what to fix. Normalising a normalised
value returns it unchanged. The ``mask_*`` functions give the forms shown on pages, in logs and in SMS.

ID numbers are checked with python-stdnum (``stdnum.cn.ric``), component by component, so each problem
gets its own code. stdnum raises ``InvalidLength``/``InvalidFormat`` for the shape, ``InvalidChecksum``
for the ISO 7064 MOD 11-2 check character, and ``InvalidComponent`` for *both* an impossible birth date
(``get_birth_date``) and an unknown region code (``get_birth_place``, which also rejects a code that did
not exist in the birth year), so we call those two separately to tell them apart. ``get_birth_place``
raises ``KeyError`` instead when the province exists but the rest of the code does not (``359999``).

Both checks run on every first-come claim, so the common inputs take short cuts that keep the libraries as the
judges: the birth date and region answers of stdnum are cached, and a mobile number typed as 11 digits (with or
without ``+86``/``0086``/``86``, spaces, hyphens) skips ``phonenumbers.parse`` but not libphonenumber's own
number-type decision. ``tests/identity/test_validation_fast.py`` compares both against the plain library calls.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import re
import unicodedata
from zoneinfo import ZoneInfo

import phonenumbers
from django.utils.translation import gettext_lazy as _
from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent

from allot.core.errors import DomainError

SHANGHAI = ZoneInfo("Asia/Shanghai")
EARLIEST_BIRTH_YEAR = 1900
NAME_MAX_LENGTH = 30

# Full-width ASCII (U+FF01..U+FF5E) maps onto ASCII by a fixed offset; only digits, letters and the few
# separators below are translated, everything else is left for the validators to reject.
_FULLWIDTH_LETTERS = {cp: cp - 0xFEE0 for cp in (*range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}
_FULLWIDTH = {**_FULLWIDTH_LETTERS, **{cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)}}
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212\uff0d"
_ID_SEPARATORS = {ord(c): None for c in _DASHES}
_ID_CLEAN = {**_FULLWIDTH, **_ID_SEPARATORS}  # disjoint: no full-width letter or digit is a dash
_PHONE_MAP = {**_FULLWIDTH, 0xFF0B: ord("+"), 0xFF08: ord("("), 0xFF09: ord(")"), 0xFF0E: ord("."),
              **{ord(c): ord("-") for c in _DASHES}}
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_PHONE_CHARS = re.compile(r"[0-9+()\-. ]+")

_MIDDLE_DOTS = "\u00b7\u2022\u30fb\u2027\uff0e\uff65"  # · • ・ ‧ ． ･
_NAME_MAP = {**_FULLWIDTH_LETTERS,
             **{ord(c): "·" for c in _MIDDLE_DOTS},
             0x2019: "'", 0x02BC: "'", 0xFF07: "'",  # ’ ʼ ＇
             **{ord(c): "-" for c in _DASHES}}
_CJK_RANGES = (
    (0x3400, 0x4DBF),  # extension A
    (0x4E00, 0x9FFF),  # unified ideographs
    (0xF900, 0xFAFF),  # compatibility ideographs (some are unified ideographs in their own right)
    (0x20000, 0x2A6DF),  # extension B
    (0x2A700, 0x2EE5F),  # extensions C, D, E, F, I
    (0x30000, 0x323AF),  # extensions G, H
)


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_latin_letter(ch: str) -> bool:
    return unicodedata.category(ch) in ("Lu", "Ll", "Lt") and unicodedata.name(ch, "").startswith("LATIN ")


def _is_latin_mark(ch: str) -> bool:
    """A combining diacritic that NFC could not fold into the preceding Latin letter."""
    return 0x0300 <= ord(ch) <= 0x036F


def shanghai_today() -> datetime.date:
    return datetime.datetime.now(tz=SHANGHAI).date()


# --- resident ID number -------------------------------------------------------------------------------

ID_FIELD = "id_number"


def normalize_id_number(raw: str, *, today: datetime.date | None = None) -> str:
    """``_normalize_id_number`` with a small memory of the last valid numbers (see ``_RECENT``)."""
    day = today or shanghai_today()
    valid = _id_recent(str(raw), day)
    return valid if valid is not None else _normalize_id_number(raw, today=day)


# The first-come claim checks a resident's ID number and phone twice in one request — for the rate-limit keys,
# then in the claim itself — and libphonenumber and the checks cost ~100 µs a number. The last _RECENT valid
# answers are kept in this process's memory (raw input → canonical form; nothing is written anywhere; an
# invalid input is always checked afresh so its error is the precise one).
_RECENT = 64


@functools.lru_cache(maxsize=_RECENT)
def _id_recent(raw: str, day: datetime.date) -> str | None:
    try:
        return _normalize_id_number(raw, today=day)
    except DomainError:
        return None


@functools.lru_cache(maxsize=_RECENT)
def _phone_recent(raw: str) -> str | None:
    try:
        return _normalize_phone(raw)
    except DomainError:
        return None


def _normalize_id_number(raw: str, *, today: datetime.date | None = None) -> str:
    """Return the 18-character canonical ID number (digits, upper-case ``X`` as the last character).

    Accepts full-width characters, spaces and hyphens. Codes: ``id_number_required``,
    ``id_number_format``, ``id_number_checksum``, ``id_number_birth_date`` (impossible date, before 1900
    or after ``today``, which defaults to today in Asia/Shanghai) and ``id_number_region``.
    """
    text = str(raw)
    # Already canonical (the usual case): cleaning would return it unchanged.
    number = text if _ID_SHAPE.fullmatch(text) else "".join(text.translate(_ID_CLEAN).split()).upper()
    if not number:
        raise DomainError(_("Please enter the resident ID number."), code="id_number_required",
                          field=ID_FIELD)
    if not _ID_SHAPE.fullmatch(number):
        raise DomainError(
            _("The resident ID number must have 18 characters: 17 digits followed by a digit or the "
              "letter X. Please copy it from the ID card again."),
            code="id_number_format", field=ID_FIELD)
    if ric.calc_check_digit(number) != number[-1]:
        raise DomainError(
            _("The check digit of the resident ID number is not correct. Please check the number, especially "
              "the last character (a digit or the letter X)."),
            code="id_number_checksum", field=ID_FIELD)
    # The error is built only when raised: building one renders its message (~5 µs, more than these checks).
    born = _birth_date(number[6:14])
    if born is None or born.year < EARLIEST_BIRTH_YEAR or born > (today or shanghai_today()):
        raise DomainError(
            _("The date of birth in the resident ID number (characters 7 to 14, as YYYYMMDD) is not a valid "
              "past date. Please check these digits."),
            code="id_number_birth_date", field=ID_FIELD)
    if not _region_known(number[:6], born.year):
        raise DomainError(
            _("The first 6 digits of the resident ID number (the region code) do not match any known area. "
              "Please check these digits."),
            code="id_number_region", field=ID_FIELD) from None
    return number


@functools.lru_cache(maxsize=16384)
def _birth_date(yyyymmdd: str) -> datetime.date | None:
    """stdnum's reading of the birth date field (characters 7 to 14), or None where stdnum finds no such date.
    ``ric.get_birth_date`` spends ~3 µs cleaning the number before it reads 8 digits; a surge's residents share
    a few tens of thousands of birth dates. 16,384 entries are ~3 MB; the cache holds dates, nothing personal."""
    try:
        return ric.get_birth_date(f"000000{yyyymmdd}0000")
    except InvalidComponent:
        return None


@functools.lru_cache(maxsize=16384)
def _region_known(region: str, year: int) -> bool:
    """Whether the region code existed in the birth year (stdnum's data). Cached by (region, year): the lookup
    in stdnum's table was a third of a first-come claim's validation, and there are only a few thousand regions.
    The cache holds region codes and years, nothing personal."""
    try:
        ric.get_birth_place(f"{region}{year:04d}01010000")
    except (InvalidComponent, KeyError):  # stdnum 2.2 raises KeyError for a known province, unknown county
        return False
    return True


def data_load() -> None:
    """Load now what the checks of an ID number and of a phone number load on first use: stdnum's table of region
    codes (~7,000 lines parsed, 130 ms on the seventh session's machine) and libphonenumber's metadata for China.
    A serving process calls this at start-up (config/wsgi.py), so that its first claim — at a campaign's opening,
    with the others of its process waiting for it — does not load them (bench/README.md, seventh session)."""
    from stdnum import numdb

    numdb.get("cn/loc")
    with contextlib.suppress(DomainError):
        _normalize_phone("13800138000")


def id_number_region(id18: str) -> str:
    """The 6-digit administrative region code at the start of a normalised ID number."""
    return id18[:6]


def id_number_birth_date(id18: str) -> datetime.date:
    """The birth date encoded in a normalised ID number."""
    return datetime.date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))


# --- mobile phone -------------------------------------------------------------------------------------

PHONE_FIELD = "phone"


def normalize_phone(raw: str) -> str:
    """``_normalize_phone`` with a small memory of the last valid numbers (see ``_RECENT``)."""
    valid = _phone_recent(str(raw))
    return valid if valid is not None else _normalize_phone(raw)


def _normalize_phone(raw: str) -> str:
    """Return a mainland China mobile number in E.164 (``+8613812345678``).

    Accepts ``+86``/``0086`` prefixes, spaces, hyphens, dots, parentheses and full-width characters.
    libphonenumber types every mainland mobile as ``MOBILE`` (CN has no ``FIXED_LINE_OR_MOBILE`` range),
    so only that type is accepted. Codes: ``phone_required``, ``phone_invalid``, ``phone_not_mobile``
    (a valid landline, or a number outside mainland China).
    """
    text = " ".join(str(raw).translate(_PHONE_MAP).split())
    if not text:
        raise DomainError(_("Please enter a mobile phone number."), code="phone_required", field=PHONE_FIELD)
    # libphonenumber turns letters into keypad digits and reads "ext." suffixes; residents mean neither.
    if not _PHONE_CHARS.fullmatch(text):
        raise _phone_invalid()
    number = _common_mobile(text)
    if number is None:
        try:
            number = phonenumbers.parse(text, "CN")
        except phonenumbers.NumberParseException:
            raise _phone_invalid() from None
        if number.extension:
            raise _phone_invalid()
    # number_type is UNKNOWN for an invalid number, and for a CN number both it and is_valid_number judge the
    # national number against CN's metadata: MOBILE in CN is valid, so is_valid_number (~3.5 µs) is asked only
    # to tell an invalid number from a valid landline or foreign one.
    if (phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
            and phonenumbers.region_code_for_number(number) == "CN"):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number):
        raise _phone_invalid()
    raise DomainError(
        _("Please enter a mainland China mobile number: 11 digits starting with 1. Landlines and numbers "
          "outside mainland China are not accepted."),
        code="phone_not_mobile", field=PHONE_FIELD)


def _phone_invalid() -> DomainError:
    # Built only when raised: building one renders its message, ~5 µs, more than the fast path's checks.
    return DomainError(
        _("The mobile phone number is not valid. Please enter the 11-digit mainland China mobile number, "
          "for example 138 1234 5678."),
        code="phone_invalid", field=PHONE_FIELD)


# phonenumbers.parse costs ~12 µs, most of it spent finding where the number starts and what prefixes it has.
# For "1" and 10 more digits, alone or after +86, 0086 or 86, with spaces or hyphens anywhere (short of parse's
# 250-character limit), parse's answer is country code 86 and those 11 digits, unless CN's metadata reads the
# start of the 11 digits as a national or carrier-selection prefix (0, 1[12]xx, 179xx: parse may strip it), or
# the start of what was typed as an international prefix other than a leading 00. Those, and every other
# spelling, take parse. "86" without "+" is read as the country code because 86 and 11 digits is too long for a
# CN national number; that too is read from the metadata.
_CN = phonenumbers.PhoneMetadata.metadata_for_region("CN")
if _CN is None or _CN.general_desc is None:
    raise RuntimeError("phonenumbers has no metadata for CN")
_CN_NATIONAL_PREFIX = re.compile(_CN.national_prefix_for_parsing or "(?!)")
_CN_INTERNATIONAL_PREFIX = re.compile(_CN.international_prefix or "(?!)")
_CN_86_THEN_11_TOO_LONG = max(_CN.general_desc.possible_length) < 13
_COMMON_MOBILE = re.compile(r"(\+86|0086|86)?(1[0-9]{10})")
_COMMON_MOBILE_MAX_CHARS = 40
_PLAIN_SEPARATORS = str.maketrans("", "", " -")


def _common_mobile(text: str) -> phonenumbers.PhoneNumber | None:
    """The ``PhoneNumber`` that ``phonenumbers.parse(text, "CN")`` would return, for the common spellings of a
    mainland mobile; None for anything else. ``text`` has passed ``_PHONE_CHARS``."""
    if len(text) > _COMMON_MOBILE_MAX_CHARS:
        return None
    compact = text.translate(_PLAIN_SEPARATORS)
    match = _COMMON_MOBILE.fullmatch(compact)
    if match is None:
        return None
    prefix, national = match.groups()
    if _CN_NATIONAL_PREFIX.match(national):
        return None
    if prefix != "+86":
        idd = _CN_INTERNATIONAL_PREFIX.match(compact)
        if prefix == "0086":
            if idd is None or idd.end() != 2:  # parse must strip exactly "00"
                return None
        elif idd is not None or (prefix == "86" and not _CN_86_THEN_11_TOO_LONG):
            return None
    return phonenumbers.PhoneNumber(country_code=86, national_number=int(national))


# --- name ---------------------------------------------------------------------------------------------

NAME_FIELD = "name"


def _name_chars_ok(name: str) -> bool:
    for i, ch in enumerate(name):
        before = name[i - 1] if i else ""
        after = name[i + 1] if i + 1 < len(name) else ""
        if _is_cjk(ch) or _is_latin_letter(ch):
            continue
        if ch == " ":  # already collapsed and stripped
            continue
        if ch == "·":  # separates two name parts
            if before and after and before != "·" and after != "·":
                continue
            return False
        if ch in "'-":  # inside a Latin name: O'Neil, Anne-Marie
            if before and after and (_is_latin_letter(before) or _is_latin_mark(before)) \
                    and _is_latin_letter(after):
                continue
            return False
        if _is_latin_mark(ch) and before and (_is_latin_letter(before) or _is_latin_mark(before)):
            continue
        return False
    return True


def normalize_name(raw: str) -> str:
    """Return the name NFC-normalised, trimmed, with single inner spaces and ``·`` as the middle dot.

    Allowed: CJK ideographs (including the rare-character extensions), Latin letters (accented too),
    spaces, ``·`` between name parts, and ``'``/``-`` inside Latin names. 1 to 30 characters.
    Codes: ``name_required``, ``name_too_long``, ``name_invalid_chars``.
    """
    name = unicodedata.normalize("NFC", str(raw).translate(_NAME_MAP))
    name = re.sub(r" ?· ?", "·", " ".join(name.split()))
    if not name:
        raise DomainError(_("Please enter the name as shown on the ID card."), code="name_required",
                          field=NAME_FIELD)
    if len(name) > NAME_MAX_LENGTH:
        raise DomainError(
            _("The name is too long. Please enter at most 30 characters, as shown on the ID card."),
            code="name_too_long", field=NAME_FIELD)
    if not _name_chars_ok(name):
        raise DomainError(
            _("The name may contain only Chinese characters, Latin letters, spaces, a middle dot (·) between "
              "parts of the name, and apostrophes or hyphens inside Latin names. Please remove digits and "
              "other symbols."),
            code="name_invalid_chars", field=NAME_FIELD)
    return name


# --- masks --------------------------------------------------------------------------------------------

def mask_id_number(id18: str) -> str:
    """``350203********1234``: region code and last four characters only."""
    if len(id18) <= 10:
        return "*" * len(id18)
    return f"{id18[:6]}{'*' * (len(id18) - 10)}{id18[-4:]}"


def mask_phone(e164: str) -> str:
    """``+8613812345678`` → ``138****5678``."""
    national = e164[3:] if e164.startswith("+86") else e164.lstrip("+")
    if len(national) < 8:
        return "*" * len(national)
    return f"{national[:3]}{'*' * (len(national) - 7)}{national[-4:]}"


def mask_name(name: str) -> str:
    """First character kept, every other character (spaces included) replaced: ``张三`` → ``张*``."""
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)
