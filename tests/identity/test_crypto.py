"""Blind indexes and sealed values: determinism, separation, integrity and key rotation."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from allot.core.errors import DomainError
from allot.identity.crypto import blind_index, generate_key, seal, unseal

ID_NUMBER = "11010519491231002X"
KEY_A = base64.urlsafe_b64encode(b"A" * 32).decode()
KEY_B = base64.urlsafe_b64encode(b"B" * 32).decode()


def sealed_error(token: str, *, context: str = "person.id_number") -> DomainError:
    with pytest.raises(DomainError) as info:
        unseal(token, context=context)
    return info.value


def tamper(token: str, position: int = -3) -> str:
    chars = list(token)
    chars[position] = "A" if chars[position] != "A" else "B"
    return "".join(chars)


# --- blind index --------------------------------------------------------------------------------------

def test_blind_index_is_64_lowercase_hex() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", blind_index(ID_NUMBER, purpose="id_number"))


def test_blind_index_of_the_same_value_is_stable() -> None:
    assert blind_index(ID_NUMBER, purpose="id_number") == blind_index(ID_NUMBER, purpose="id_number")


def test_blind_index_format_is_pinned(settings: Any) -> None:
    # Stored indexes and unique constraints depend on this exact construction; changing it orphans them.
    settings.ALLOT_BLIND_INDEX_KEY = KEY_A
    assert blind_index(ID_NUMBER, purpose="id_number") == (
        "2c158a542d092f20f898743d99970ae89ca83919a3b8645cbe5c897df7efe0ad")


def test_blind_index_differs_per_value() -> None:
    assert blind_index("+8613812345678", purpose="phone") != blind_index("+8613812345679", purpose="phone")


def test_blind_index_differs_per_purpose() -> None:
    assert blind_index("13812345678", purpose="id_number") != blind_index("13812345678", purpose="phone")


def test_blind_index_differs_per_key(settings: Any) -> None:
    settings.ALLOT_BLIND_INDEX_KEY = KEY_A
    with_a = blind_index(ID_NUMBER, purpose="id_number")
    settings.ALLOT_BLIND_INDEX_KEY = KEY_B
    assert blind_index(ID_NUMBER, purpose="id_number") != with_a


@pytest.mark.parametrize("purpose", ["", "ID Number", "id\x00number"])
def test_blind_index_rejects_a_malformed_purpose(purpose: str) -> None:
    with pytest.raises(ValueError, match="purpose"):
        blind_index(ID_NUMBER, purpose=purpose)


@pytest.mark.parametrize(
    "value", ["", "dGVzdA==", "not base64 !!", base64.urlsafe_b64encode(b"x" * 31).decode()])
def test_missing_or_malformed_blind_index_key_is_a_configuration_error(settings: Any, value: str) -> None:
    settings.ALLOT_BLIND_INDEX_KEY = value
    with pytest.raises(ImproperlyConfigured, match="ALLOT_BLIND_INDEX_KEY"):
        blind_index(ID_NUMBER, purpose="id_number")


def test_blind_index_key_without_padding_is_accepted(settings: Any) -> None:
    settings.ALLOT_BLIND_INDEX_KEY = KEY_A.rstrip("=")
    with_stripped = blind_index(ID_NUMBER, purpose="id_number")
    settings.ALLOT_BLIND_INDEX_KEY = KEY_A
    assert blind_index(ID_NUMBER, purpose="id_number") == with_stripped


# --- seal / unseal ------------------------------------------------------------------------------------

def test_sealed_value_opens_with_the_same_context() -> None:
    token = seal(ID_NUMBER, context="person.id_number")
    assert unseal(token, context="person.id_number") == ID_NUMBER


def test_sealed_chinese_name_round_trips() -> None:
    token = seal("阿卜杜·热合曼", context="person.name")
    assert unseal(token, context="person.name") == "阿卜杜·热合曼"


def test_token_is_compact_text_with_version_and_key_id(settings: Any) -> None:
    settings.ALLOT_DATA_KEYS = f"k2026:{KEY_A}"
    token = seal(ID_NUMBER, context="person.id_number")
    assert re.fullmatch(r"v1\.k2026\.[A-Za-z0-9_-]+", token)
    assert ID_NUMBER not in token


def test_two_seals_of_the_same_value_differ() -> None:
    assert seal(ID_NUMBER, context="person.id_number") != seal(ID_NUMBER, context="person.id_number")


def test_wrong_context_does_not_open() -> None:
    token = seal(ID_NUMBER, context="person.id_number")
    assert sealed_error(token, context="person.phone").code == "sealed_data_invalid"


@pytest.mark.parametrize("position", [-1, -3, 10, 20])
def test_tampered_token_does_not_open(position: int) -> None:
    token = seal(ID_NUMBER, context="person.id_number")
    assert sealed_error(tamper(token, position)).code == "sealed_data_invalid"


@pytest.mark.parametrize("token", [
    "", "garbage", "v1.t1.", "v1.t1.AAAA", "v2.t1." + "A" * 40, "v1.t1.!!!!", "v1.t1.ｖｖｖ",
])
def test_malformed_token_does_not_open(token: str) -> None:
    assert sealed_error(token).code == "sealed_data_invalid"


def test_non_canonical_base64_spelling_of_a_valid_token_does_not_open() -> None:
    # 12-byte nonce + 18-byte ID number + 16-byte tag = 46 bytes: the last base64 character has 4 spare bits.
    token = seal(ID_NUMBER, context="person.id_number")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]
    assert base64.urlsafe_b64decode(respelled.split(".")[2] + "==") == base64.urlsafe_b64decode(
        token.split(".")[2] + "==")
    assert sealed_error(respelled).code == "sealed_data_invalid"


def test_token_with_unknown_key_id_does_not_open(settings: Any) -> None:
    token = seal(ID_NUMBER, context="person.id_number")
    settings.ALLOT_DATA_KEYS = f"other:{KEY_B}"
    assert sealed_error(token).code == "sealed_data_invalid"


def test_truncated_token_does_not_open() -> None:
    token = seal(ID_NUMBER, context="person.id_number")
    assert sealed_error(token[:-8]).code == "sealed_data_invalid"


def test_rotation_old_key_still_opens_and_new_key_seals(settings: Any) -> None:
    settings.ALLOT_DATA_KEYS = f"old:{KEY_A}"
    old_token = seal(ID_NUMBER, context="person.id_number")

    settings.ALLOT_DATA_KEYS = f"new:{KEY_B}, old:{KEY_A}"
    new_token = seal(ID_NUMBER, context="person.id_number")

    assert unseal(old_token, context="person.id_number") == ID_NUMBER
    assert new_token.startswith("v1.new.")
    assert unseal(new_token, context="person.id_number") == ID_NUMBER


def test_rotation_same_key_id_with_a_different_key_does_not_open(settings: Any) -> None:
    settings.ALLOT_DATA_KEYS = f"k1:{KEY_A}"
    token = seal(ID_NUMBER, context="person.id_number")
    settings.ALLOT_DATA_KEYS = f"k1:{KEY_B}"
    assert sealed_error(token).code == "sealed_data_invalid"


@pytest.mark.parametrize("value", [
    "",
    " , ",
    KEY_A,  # no key id
    f"k.1:{KEY_A}",  # '.' would break the token format
    f"k1:{KEY_A},k1:{KEY_B}",
    "k1:dGVzdA==",
])
def test_malformed_data_keys_are_a_configuration_error(settings: Any, value: str) -> None:
    settings.ALLOT_DATA_KEYS = value
    with pytest.raises(ImproperlyConfigured, match="ALLOT_DATA_KEYS"):
        seal(ID_NUMBER, context="person.id_number")


def test_generated_keys_are_32_random_bytes_and_work(settings: Any) -> None:
    key = generate_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert key != generate_key()
    settings.ALLOT_DATA_KEYS = f"gen:{key}"
    settings.ALLOT_BLIND_INDEX_KEY = key
    assert unseal(seal("x", context="c"), context="c") == "x"
    assert len(blind_index("x", purpose="phone")) == 64


def test_sealed_data_error_renders_in_chinese_and_english() -> None:
    error = sealed_error("garbage")
    with translation.override("zh-hans"):
        assert str(error.message) == "已保存的个人信息无法解密，请联系系统管理员。"
    with translation.override("en"):
        assert str(error.message) == (
            "Stored personal data could not be decrypted. Please contact the system administrator.")


# --- properties ---------------------------------------------------------------------------------------

@given(st.text(), st.text(min_size=1, max_size=40))
def test_any_text_round_trips(plaintext: str, context: str) -> None:
    assert unseal(seal(plaintext, context=context), context=context) == plaintext


@given(st.one_of(st.text(), st.text(alphabet="v1.t-_AZaz09", max_size=80)))
def test_unseal_of_arbitrary_text_raises_only_domain_errors(token: str) -> None:
    with pytest.raises(DomainError):
        unseal(token, context="person.id_number")
