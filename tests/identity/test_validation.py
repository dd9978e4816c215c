"""Parsing of resident ID numbers, mobile phones and names; masks; error messages in both languages."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from allot.core.errors import DomainError
from allot.identity.validation import (
    id_number_birth_date,
    id_number_region,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_id_number,
    normalize_name,
    normalize_phone,
)

# --- helpers ------------------------------------------------------------------------------------------

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]  # 2^(17-i) mod 11, GB 11643-1999
_CHECK = "10X98765432"  # check character for each value of (weighted sum mod 11)


def check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character, computed here so the tests do not just trust stdnum."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def make_id(region: str = "350203", birth: str = "19900101", seq: str = "123") -> str:
    first17 = region + birth + seq
    return first17 + check_char(first17)


def make_id_ending_in_x(region: str = "350203", birth: str = "19900101") -> str:
    for n in range(1000):
        number = make_id(region, birth, f"{n:03d}")
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence number gives check character X")


def error_of(fn: object, *args: object, **kwargs: object) -> DomainError:
    with pytest.raises(DomainError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value


def _has_cjk(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


# --- resident ID numbers ------------------------------------------------------------------------------

def test_hand_computed_check_digit_matches_the_gb11643_example() -> None:
    assert make_id("110105", "19491231", "002") == "11010519491231002X"


def test_valid_id_number_is_returned_unchanged() -> None:
    number = make_id()
    assert normalize_id_number(number) == number


@pytest.mark.parametrize("spelling", [
    "３５０２０３１９９０ ０１０１１２３{c}",
    "350203 1990 0101 123{c}",
    "350203-19900101-123{c}",
    "  350203\u300019900101123{c}\n",
    "３５０２０３－１９９００１０１－１２３{c}",
])
def test_full_width_spaced_and_hyphenated_id_numbers_are_normalised(spelling: str) -> None:
    number = make_id()
    assert normalize_id_number(spelling.format(c=number[-1])) == number


@pytest.mark.parametrize("last", ["x", "ｘ", "Ｘ"])
def test_lowercase_and_full_width_x_become_uppercase_x(last: str) -> None:
    number = make_id_ending_in_x()
    assert normalize_id_number(number[:-1] + last) == number


@pytest.mark.parametrize("raw", ["", "   ", "\u3000", " - "])
def test_empty_id_number_is_required(raw: str) -> None:
    error = error_of(normalize_id_number, raw)
    assert (error.code, error.field, error.status) == ("id_number_required", "id_number", 400)


@pytest.mark.parametrize("raw", [
    "12345",
    "350203900101123",  # 15-digit first-generation number
    "3502031990010112345",  # 19 characters
    "35020319900101X234",  # X not in last place
    "35020319900101123A",
    "٣٥٠٢٠٣١٩٩٠٠١٠١١٢٣٤",  # Arabic-Indic digits are digits to Python, not to an ID card
])
def test_id_number_of_wrong_length_or_characters_is_a_format_error(raw: str) -> None:
    assert error_of(normalize_id_number, raw).code == "id_number_format"


def test_wrong_check_digit_is_a_checksum_error() -> None:
    number = make_id()
    wrong = "0" if number[-1] != "0" else "1"
    assert error_of(normalize_id_number, number[:-1] + wrong).code == "id_number_checksum"


def test_a_typo_in_the_middle_is_caught_by_the_checksum() -> None:
    number = make_id()
    typo = number[:8] + str((int(number[8]) + 1) % 10) + number[9:]
    assert error_of(normalize_id_number, typo).code == "id_number_checksum"


@pytest.mark.parametrize("birth", ["19900230", "19901301", "19900100", "18991231"])
def test_impossible_or_too_early_birth_date_is_rejected(birth: str) -> None:
    assert error_of(normalize_id_number, make_id("110101", birth)).code == "id_number_birth_date"


def test_birth_date_in_the_future_is_rejected() -> None:
    number = make_id("110101", "20240102")
    error = error_of(normalize_id_number, number, today=datetime.date(2024, 1, 1))
    assert error.code == "id_number_birth_date"


def test_birth_date_today_is_accepted() -> None:
    number = make_id("110101", "20240101")
    assert normalize_id_number(number, today=datetime.date(2024, 1, 1)) == number


def test_birth_date_in_the_future_is_rejected_by_default_today() -> None:
    next_year = datetime.date.today().year + 1
    assert error_of(normalize_id_number, make_id("110101", f"{next_year}0101")).code == "id_number_birth_date"


@pytest.mark.parametrize("region", [
    "999999",  # no such province
    "359999",  # Fujian exists, the county does not (stdnum raises KeyError here)
    "000000",
])
def test_unknown_region_code_is_rejected(region: str) -> None:
    assert error_of(normalize_id_number, make_id(region)).code == "id_number_region"


def test_region_code_that_did_not_exist_in_the_birth_year_is_rejected() -> None:
    # 350203 (Siming District, Xiamen) exists from 1983.
    assert error_of(normalize_id_number, make_id("350203", "19800101")).code == "id_number_region"


def test_region_and_birth_date_are_read_from_the_number() -> None:
    number = make_id("350203", "19900215")
    assert id_number_region(number) == "350203"
    assert id_number_birth_date(number) == datetime.date(1990, 2, 15)


# --- phones -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "13812345678",
    "138 1234 5678",
    "138-1234-5678",
    "138.1234.5678",
    "+86 138-1234-5678",
    "+8613812345678",
    "0086 138 1234 5678",
    "008613812345678",
    "8613812345678",
    "(+86) 138 1234 5678",
    "(86)13812345678",
    "１３８１２３４５６７８",
    "＋８６ １３８－１２３４－５６７８",
    "（＋８６）１３８ １２３４ ５６７８",
    "  13812345678\n",
])
def test_messy_mobile_numbers_become_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+8613812345678"


@pytest.mark.parametrize("raw", ["", "   ", "\u3000"])
def test_empty_phone_is_required(raw: str) -> None:
    error = error_of(normalize_phone, raw)
    assert (error.code, error.field) == ("phone_required", "phone")


@pytest.mark.parametrize("raw", [
    "12345",
    "1381234567",  # 10 digits
    "138123456789",  # 12 digits
    "138ABCD5678",  # letters would be read as keypad digits by libphonenumber
    "13812345678 ext 12",
    "13812345678#12",
    "mobile",
    "+",
])
def test_malformed_phone_is_invalid(raw: str) -> None:
    assert error_of(normalize_phone, raw).code == "phone_invalid"


@pytest.mark.parametrize("raw", [
    "010-6512-3456",  # Beijing landline
    "0592 5123456",  # Xiamen landline
    "+1 650 253 0000",  # United States
    "+852 9123 4567",  # Hong Kong mobile: not a mainland number
])
def test_landline_or_foreign_number_is_not_a_mainland_mobile(raw: str) -> None:
    assert error_of(normalize_phone, raw).code == "phone_not_mobile"


# --- names --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("张三", "张三"),
    ("  张三 ", "张三"),
    ("欧阳娜娜", "欧阳娜娜"),
    ("阿卜杜·热合曼", "阿卜杜·热合曼"),
    ("阿卜杜•热合曼", "阿卜杜·热合曼"),
    ("阿卜杜・热合曼", "阿卜杜·热合曼"),
    ("阿卜杜‧热合曼", "阿卜杜·热合曼"),
    ("阿卜杜．热合曼", "阿卜杜·热合曼"),
    ("阿卜杜 · 热合曼", "阿卜杜·热合曼"),
    ("Anne-Marie O'Neil", "Anne-Marie O'Neil"),
    ("Anne-Marie O’Neil", "Anne-Marie O'Neil"),
    ("  Li \t  Wei  ", "Li Wei"),
    ("José Müller", "José Müller"),
    ("Jose\u0301", "Jos\u00e9"),  # decomposed accent composed by NFC
    ("王\U00020000", "王\U00020000"),  # CJK extension B
    ("陈\u3400", "陈\u3400"),  # CJK extension A
    ("Ｌｉ Ｗｅｉ", "Li Wei"),
])
def test_valid_names_are_normalised(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "\u3000\n"])
def test_empty_name_is_required(raw: str) -> None:
    error = error_of(normalize_name, raw)
    assert (error.code, error.field) == ("name_required", "name")


def test_thirty_characters_are_accepted_and_thirty_one_are_too_long() -> None:
    assert normalize_name("张" * 30) == "张" * 30
    assert error_of(normalize_name, "张" * 31).code == "name_too_long"


@pytest.mark.parametrize("raw", [
    "张三1",
    "张三!",
    "张三@example",
    "·张三",
    "张三·",
    "张三··李四",
    "张-三",  # hyphen only inside Latin names
    "-Anne",
    "O'",
    "张三😀",
    "Иван",  # Cyrillic
    "<script>",
])
def test_digits_and_symbols_in_names_are_rejected(raw: str) -> None:
    assert error_of(normalize_name, raw).code == "name_invalid_chars"


# --- masks --------------------------------------------------------------------------------------------

def test_id_number_mask_keeps_region_and_last_four() -> None:
    assert mask_id_number("350203199001011234") == "350203********1234"


def test_phone_mask_keeps_first_three_and_last_four() -> None:
    assert mask_phone("+8613812345678") == "138****5678"


@pytest.mark.parametrize(("name", "masked"), [
    ("张三", "张*"),
    ("欧阳娜娜", "欧***"),
    ("张", "*"),
    ("Li Wei", "L*****"),
    ("阿卜杜·热合曼", "阿******"),
])
def test_name_mask_keeps_only_the_first_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


# --- messages in both languages ----------------------------------------------------------------------

_ERROR_CASES = [
    (normalize_id_number, ""),
    (normalize_id_number, "123"),
    (normalize_id_number, make_id()[:-1] + ("0" if make_id()[-1] != "0" else "1")),
    (normalize_id_number, make_id("110101", "19900230")),
    (normalize_id_number, make_id("999999")),
    (normalize_phone, ""),
    (normalize_phone, "123"),
    (normalize_phone, "010 6512 3456"),
    (normalize_name, ""),
    (normalize_name, "张" * 31),
    (normalize_name, "张三1"),
]


@pytest.mark.parametrize(("fn", "raw"), _ERROR_CASES)
def test_error_messages_render_in_chinese_and_english(fn: object, raw: str) -> None:
    error = error_of(fn, raw)
    with translation.override("zh-hans"):
        chinese = str(error.message)
    with translation.override("en"):
        english = str(error.message)
    assert _has_cjk(chinese), chinese
    assert not _has_cjk(english), english
    assert english.startswith(("Please", "The")), english


def test_every_error_case_has_a_distinct_code() -> None:
    codes = {error_of(fn, raw).code for fn, raw in _ERROR_CASES}
    assert len(codes) == len(_ERROR_CASES)


def test_checksum_message_in_chinese_names_the_last_character() -> None:
    number = make_id()
    error = error_of(normalize_id_number, number[:-1] + ("0" if number[-1] != "0" else "1"))
    with translation.override("zh-hans"):
        assert str(error.message) == (
            "身份证号码校验位不正确，请核对号码，特别是最后一位（可能是数字或字母X）。")


# --- properties ---------------------------------------------------------------------------------------

_valid_shape_ids = st.text(alphabet="0123456789", min_size=17, max_size=17).map(lambda s: s + check_char(s))
_id_like = st.text(alphabet="0123456789xX -ｘ０１２３４５６７８９\u3000", max_size=25)


@given(st.one_of(st.text(), _id_like, _valid_shape_ids))
def test_normalize_id_number_raises_only_domain_errors_and_is_idempotent(raw: str) -> None:
    try:
        number = normalize_id_number(raw)
    except DomainError:
        return
    assert len(number) == 18
    assert normalize_id_number(number) == number


_phone_like = st.text(alphabet="0123456789+-(). ０１２３４５６７８９＋（）", max_size=25)


@given(st.one_of(st.text(), _phone_like))
def test_normalize_phone_raises_only_domain_errors_and_is_idempotent(raw: str) -> None:
    try:
        phone = normalize_phone(raw)
    except DomainError:
        return
    assert re.fullmatch(r"\+861[0-9]{10}", phone)
    assert normalize_phone(phone) == phone


@given(st.text(alphabet="0123456789", min_size=8, max_size=8),
       st.sampled_from(["{p}{s}", "+86 {p} {a} {b}", "0086-{p}-{a}-{b}", "({p}) {a}.{b}"]))
def test_any_formatting_of_a_mobile_number_gives_the_same_e164(suffix: str, template: str) -> None:
    raw = template.format(p="138", s=suffix, a=suffix[:4], b=suffix[4:])
    assert normalize_phone(raw) == "+86138" + suffix


_name_like = st.text(alphabet="张三欧阳阿卜杜热合曼AnneMarieOéü' -·•・‧．\u0301\u3000\t", max_size=35)


@given(st.one_of(st.text(), _name_like))
def test_normalize_name_raises_only_domain_errors_and_is_idempotent(raw: str) -> None:
    try:
        name = normalize_name(raw)
    except DomainError:
        return
    assert 1 <= len(name) <= 30
    assert normalize_name(name) == name
    assert len(mask_name(name)) == len(name)
