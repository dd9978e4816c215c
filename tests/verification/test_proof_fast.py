"""The fast proof verifier decides exactly as ``altcha.verify_solution`` does, and ``proof_verify`` keeps its codes.

``_verdict_fast`` answers only for challenges of the shape ``challenge_create`` issues and says None otherwise;
``_verdict`` then asks altcha. Each payload here is judged by both and by altcha, which is the reference.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import time
from collections.abc import Callable
from typing import Any

import altcha
import pytest
from django.utils import translation
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from allot.core.errors import DomainError
from allot.verification.proof import (
    _UNDECODABLE,
    ALGORITHM,
    _secret,
    _verdict,
    _verdict_fast,
    challenge_create,
    challenge_solve,
    proof_verify,
    proofs_presolved,
)

WRONG_SECRET = "f" * 64


def _encode(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def _decode(payload: str) -> Any:
    return json.loads(base64.b64decode(payload))


def _signed(secret: str, *, purpose: str = "claim", expires_in: int = 600, data: Any = None,
            expires_at: Any = "default") -> dict[str, Any]:
    """A payload dict as a browser sends it: a challenge signed by altcha itself, solved."""
    challenge = altcha.create_challenge(
        ALGORITHM, 1, counter=0, data={"purpose": purpose} if data is None else data,
        expires_at=int(time.time()) + expires_in if expires_at == "default" else expires_at, hmac_secret=secret)
    solution = altcha.solve_challenge(challenge)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_dict()


def _signed_by_python_json(secret: str, params: dict[str, Any]) -> dict[str, Any]:
    """A payload whose signature covers ``json.dumps``'s canonical form instead of altcha-lib's: altcha accepts it
    only where the two agree, which is what the fast verifier assumes for "simple" parameters."""
    params = {"algorithm": ALGORITHM, "cost": 1, "keyLength": 32, "nonce": "00" * 16, "salt": "11" * 16, **params}
    try:
        derived = hashlib.sha256(bytes.fromhex(params["salt"]) + bytes.fromhex(params["nonce"])
                                 + struct.pack(">I", 0)).hexdigest()
    except ValueError:
        derived = "00" * 32
    params.setdefault("keyPrefix", derived[:32])
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    signature = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    return {"challenge": {"parameters": params, "signature": signature},
            "solution": {"counter": 0, "derivedKey": derived}}


def _altcha_verdict(payload: str, secret: str) -> str:
    result = altcha.verify_solution(payload, secret)
    return "expired" if result.expired else "verified" if result.verified else "invalid"


def _both(payload: str, secret: str) -> tuple[str, str | None, str]:
    """(altcha's verdict, the fast verifier's, ``_verdict``'s)."""
    decoded = _verdict(payload, secret)[1]
    fast = None if decoded is _UNDECODABLE else _verdict_fast(decoded, secret)
    return _altcha_verdict(payload, secret), fast, _verdict(payload, secret)[0]


def _tamper(change: Callable[[dict[str, Any]], object], *, secret: str | None = None,
            **signed: Any) -> Callable[[str], str]:
    def build(server_secret: str) -> str:
        payload = _signed(secret or server_secret, **signed)
        change(payload)
        return _encode(payload)
    return build


def _params(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["challenge"]["parameters"]


def _flip(hex_text: str) -> str:
    return ("1" if hex_text[0] == "0" else "0") + hex_text[1:]


# Payloads of the shape this module issues: the fast verifier must answer (not None), and answer as altcha does.
OURS: dict[str, tuple[Callable[[str], str], str]] = {
    "valid": (_tamper(lambda p: None), "verified"),
    "valid, no expiry check needed (expiresAt 0)": (_tamper(lambda p: None, expires_at=0), "verified"),
    "valid, keyLength left out (altcha signs its default 32)": (
        _tamper(lambda p: _params(p).pop("keyLength")), "verified"),
    "valid, an unsigned extra parameter (altcha ignores it)": (
        _tamper(lambda p: _params(p).update(extra="x")), "verified"),
    "valid, time reported": (_tamper(lambda p: p["solution"].update(time=12.5)), "verified"),
    "expired": (_tamper(lambda p: None, expires_in=-5), "expired"),
    "expired and badly signed (expiry is checked first)": (
        _tamper(lambda p: p["challenge"].update(signature="00"), expires_in=-5), "expired"),
    "expired, wrong secret": (_tamper(lambda p: None, secret=WRONG_SECRET, expires_in=-5), "expired"),
    "wrong secret": (_tamper(lambda p: None, secret=WRONG_SECRET), "invalid"),
    "signature flipped": (_tamper(lambda p: p["challenge"].update(signature=_flip(p["challenge"]["signature"]))),
                          "invalid"),
    "signature upper case": (_tamper(lambda p: p["challenge"].update(signature=p["challenge"]["signature"].upper())),
                             "invalid"),
    "signature empty": (_tamper(lambda p: p["challenge"].update(signature="")), "invalid"),
    "signature truncated": (_tamper(lambda p: p["challenge"].update(signature=p["challenge"]["signature"][:-2])),
                            "invalid"),
    "salt tampered": (_tamper(lambda p: _params(p).update(salt=_flip(_params(p)["salt"]))), "invalid"),
    "nonce tampered": (_tamper(lambda p: _params(p).update(nonce=_flip(_params(p)["nonce"]))), "invalid"),
    "counter + 1": (_tamper(lambda p: p["solution"].update(counter=p["solution"]["counter"] + 1)), "invalid"),
    "counter negative": (_tamper(lambda p: p["solution"].update(counter=-1)), "invalid"),
    "counter above uint32": (_tamper(lambda p: p["solution"].update(counter=2**32)), "invalid"),
    "counter as text": (_tamper(lambda p: p["solution"].update(counter="0")), "invalid"),
    "counter as float": (_tamper(lambda p: p["solution"].update(counter=0.0)), "invalid"),
    "counter as boolean": (_tamper(lambda p: p["solution"].update(counter=False)), "invalid"),
    "derived key flipped": (_tamper(lambda p: p["solution"].update(derivedKey=_flip(p["solution"]["derivedKey"]))),
                            "invalid"),
    "derived key upper case": (
        _tamper(lambda p: p["solution"].update(derivedKey=p["solution"]["derivedKey"].upper())), "invalid"),
    "derived key not text": (_tamper(lambda p: p["solution"].update(derivedKey=None)), "invalid"),
    "purpose changed after signing": (_tamper(lambda p: _params(p)["data"].update(purpose="register")), "invalid"),
    "expiry moved after signing": (_tamper(lambda p: _params(p).update(expiresAt=_params(p)["expiresAt"] + 1)),
                                   "invalid"),
    "expiry moved into the past after signing": (_tamper(lambda p: _params(p).update(expiresAt=1)), "expired"),
    "key prefix emptied after signing": (_tamper(lambda p: _params(p).update(keyPrefix="")), "invalid"),
    "key prefix upper-cased after signing": (
        _tamper(lambda p: _params(p).update(keyPrefix=_params(p)["keyPrefix"].upper())), "invalid"),
    "key length changed after signing": (_tamper(lambda p: _params(p).update(keyLength=16)), "invalid"),
    "cost changed after signing": (_tamper(lambda p: _params(p).update(cost=2)), "invalid"),
    "explicit null memoryCost added after signing": (_tamper(lambda p: _params(p).update(memoryCost=None)),
                                                     "invalid"),
    "key signature added after signing": (_tamper(lambda p: _params(p).update(keySignature="ab")), "invalid"),
    "data removed after signing": (_tamper(lambda p: _params(p).pop("data")), "invalid"),
    "signed by json.dumps, simple data": (
        lambda s: _encode(_signed_by_python_json(s, {"expiresAt": int(time.time()) + 60,
                                                     "data": {"purpose": "claim", "a\"\\b": "c/\"\\", "n": -7}})),
        "verified"),
    "signed keyPrefix upper case: altcha lower-cases it before comparing": (
        lambda s: _encode(_signed_by_python_json(s, {"expiresAt": int(time.time()) + 60, "data": {"purpose": "claim"},
                                                     "keyPrefix": hashlib.sha256(
                                                         b"\x11" * 16 + b"\x00" * 16 + struct.pack(">I", 0)
                                                     ).hexdigest()[:8].upper()})),
        "verified"),
    "derived key right but the signed key prefix not met": (
        lambda s: _encode(_signed_by_python_json(s, {"expiresAt": int(time.time()) + 60, "data": {"purpose": "claim"},
                                                     "keyPrefix": _flip(hashlib.sha256(
                                                         b"\x11" * 16 + b"\x00" * 16 + struct.pack(">I", 0)
                                                     ).hexdigest()[:8])})),
        "invalid"),
}

# Payloads the fast verifier must leave to altcha (or answer as altcha does); the verdict is altcha's.
OTHERS: dict[str, tuple[Callable[[str], str], str]] = {
    "non-ASCII data": (_tamper(lambda p: None, data={"purpose": "claim", "note": "街道 é"}), "verified"),
    "non-BMP and high-BMP keys (UTF-16 order differs from code points)": (
        _tamper(lambda p: None, data={"purpose": "claim", "\U0001f600": 1, "\uffff": 2}), "verified"),
    "control and DEL characters": (_tamper(lambda p: None, data={"purpose": "claim", "x": "a\x7fb\x01\n"}),
                                   "verified"),
    "float data": (_tamper(lambda p: None, data={"purpose": "claim", "f": 1.0, "g": 1e21, "h": 0.1}), "verified"),
    "huge int data": (_tamper(lambda p: None, data={"purpose": "claim", "big": 2**60}), "verified"),
    "array-index keys (JS orders them numerically, first)": (
        _tamper(lambda p: None, data={"purpose": "claim", "10": 1, "9": 2, "b": 3}), "verified"),
    "arrays of objects (sortKeys does not descend into arrays)": (
        _tamper(lambda p: None, data={"purpose": "claim", "l": [{"b": 1, "a": 2}]}), "verified"),
    "deep nesting": (_tamper(lambda p: None, data={"purpose": "claim", "a": {"b": {"c": {"d": {"e": {}}}}}}),
                     "verified"),
    "no expiry": (_tamper(lambda p: None, expires_at=None), "verified"),
    "expiry as float, past": (_tamper(lambda p: _params(p).update(expiresAt=1.5)), "expired"),
    "expiry as boolean": (_tamper(lambda p: _params(p).update(expiresAt=True)), "expired"),
    "expiry as text": (_tamper(lambda p: _params(p).update(expiresAt="9999999999")), "invalid"),
    "non-ASCII signed by json.dumps (escaped \\u, altcha-lib writes it raw)": (
        lambda s: _encode(_signed_by_python_json(s, {"expiresAt": int(time.time()) + 60,
                                                     "data": {"purpose": "claim", "n": "é"}})), "invalid"),
    "float signed by json.dumps (1.0, altcha-lib writes 1)": (
        lambda s: _encode(_signed_by_python_json(s, {"expiresAt": int(time.time()) + 60,
                                                     "data": {"purpose": "claim", "f": 1.0}})), "invalid"),
    "array-index keys signed by json.dumps (code-point order)": (
        lambda s: _encode(_signed_by_python_json(s, {"expiresAt": int(time.time()) + 60,
                                                     "data": {"purpose": "claim", "10": 1, "9": 2}})), "invalid"),
    "__proto__ key signed by json.dumps (altcha refuses to sign it)": (
        lambda s: _encode(_signed_by_python_json(s, {"expiresAt": int(time.time()) + 60,
                                                     "data": {"purpose": "claim", "__proto__": 1}})), "invalid"),
    "DEL signed by json.dumps (escaped, JS keeps it)": (
        lambda s: _encode(_signed_by_python_json(s, {"expiresAt": int(time.time()) + 60,
                                                     "data": {"purpose": "claim", "d": "\x7f"}})), "invalid"),
    "algorithm SHA-512 signed": (
        lambda s: _encode(_signed_by_python_json(s, {"expiresAt": int(time.time()) + 60, "algorithm": "SHA-512",
                                                     "data": {"purpose": "claim"}})), "invalid"),
    "cost 2 signed": (
        lambda s: _encode(_signed_by_python_json(s, {"expiresAt": int(time.time()) + 60, "cost": 2,
                                                     "data": {"purpose": "claim"}})), "invalid"),
    "missing solution": (_tamper(lambda p: p.pop("solution")), "invalid"),
    "missing signature": (_tamper(lambda p: p["challenge"].pop("signature")), "invalid"),
    "signature not text": (_tamper(lambda p: p["challenge"].update(signature=12)), "invalid"),
    "missing nonce": (_tamper(lambda p: _params(p).pop("nonce")), "invalid"),
    "parameters a list": (_tamper(lambda p: p["challenge"].update(parameters=[])), "invalid"),
    "solution a list": (_tamper(lambda p: p.update(solution=[0])), "invalid"),
    "not base64": (lambda s: "not base64!", "invalid"),
    "base64 of non-UTF-8": (lambda s: base64.b64encode(b"\xff\xfe{}").decode(), "invalid"),
    "base64 of a UTF-8 BOM and JSON": (
        lambda s: base64.b64encode(b"\xef\xbb\xbf" + json.dumps(_signed(s)).encode()).decode(), "invalid"),
    "base64 of broken JSON": (lambda s: base64.b64encode(b'{"challenge": ').decode(), "invalid"),
    "base64 of a JSON list": (lambda s: base64.b64encode(b"[]").decode(), "invalid"),
    "base64 of a JSON number": (lambda s: base64.b64encode(b"1").decode(), "invalid"),
    # as deep as fits in proof_verify's MAX_PAYLOAD (4,000 characters of base64); 100,000 levels crashed the C
    # stack of a full test run once another test had raised the recursion limit, and never reach the verifier
    "base64 of deeply nested JSON": (lambda s: base64.b64encode(b"[" * 1500 + b"]" * 1500).decode(), "invalid"),
    "non-ASCII text": (lambda s: "é" * 8, "invalid"),
}


@pytest.mark.parametrize("name", list(OURS))
def test_the_fast_verifier_decides_our_challenges_as_altcha_does(name):
    build, expected = OURS[name]
    secret = _secret()
    payload = build(secret)

    reference, fast, decided = _both(payload, secret)

    assert reference == expected  # the case tests what it says
    assert fast == reference
    assert decided == reference


@pytest.mark.parametrize("name", list(OTHERS))
def test_payloads_of_another_shape_get_altchas_verdict(name):
    build, expected = OTHERS[name]
    secret = _secret()
    payload = build(secret)

    reference, fast, decided = _both(payload, secret)

    assert reference == expected
    assert fast in (None, reference)
    assert decided == reference


def test_the_presolved_load_test_proofs_take_the_fast_path():
    secret = _secret()
    for payload in proofs_presolved(purpose="claim", count=20, max_number=50):
        assert _verdict_fast(_decode(payload), secret) == "verified" == _altcha_verdict(payload, secret)


def test_a_challenge_signed_with_an_invalid_hex_nonce_fails_as_loudly_as_before():
    """Only the key holder can sign one; altcha raises on it, and so does the verifier (no new verdict)."""
    secret = _secret()
    payload = _encode(_signed_by_python_json(secret, {"expiresAt": int(time.time()) + 60, "nonce": "zz",
                                                      "data": {"purpose": "claim"}, "keyPrefix": ""}))
    with pytest.raises(ValueError):
        altcha.verify_solution(payload, secret)
    with pytest.raises(ValueError):
        _verdict(payload, secret)


# Signed data made of values the fast verifier handles, plus at most one value or key it must leave to altcha (so
# that a wrong idea of "simple" shows up as a verdict different from altcha's).
_ascii = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=5)
_simple_keys = st.text("abcXYZ_-\"\\/ ", max_size=3)
_simple = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**53), max_value=2**53), _ascii),
                       lambda inner: st.dictionaries(_simple_keys, inner, max_size=3), max_leaves=5)
_odd_values = st.one_of(
    st.floats(), st.integers(min_value=2**53 + 1, max_value=2**70), st.integers(max_value=-(2**53) - 1),
    st.text(max_size=3).filter(lambda t: not (t.isascii() and t.isprintable())),
    st.sampled_from(["é", "\x7f", "\x00", "\n", "\U0001f600", "\ud800", 0.0, 1.0, 1e21, 1e-7, [], [{"b": 1, "a": 2}]]),
    st.lists(_simple, max_size=2))
_odd_keys = st.sampled_from(["0", "1", "9", "10", "01", "4294967294", "4294967295", "__proto__", "é", "\U0001f600",
                             "\uffff", "\x7f", "\n"])
_odd_item = st.one_of(st.tuples(_simple_keys, _odd_values), st.tuples(_odd_keys, _simple))


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(_simple_keys, _simple, max_size=3), odd=st.none() | _odd_item, nested=st.booleans(),
       by_altcha=st.booleans(),
       mutate=st.sampled_from(["none"] * 6 + ["algorithm", "cost", "keyLength", "keyPrefix", "expiresAt",
                               "memoryCost", "counter", "derivedKey", "signature"]),
       value=st.one_of(_simple, _odd_values))
def test_any_signed_data_gets_altchas_verdict(data, odd, nested, by_altcha, mutate, value):
    secret = _secret()
    data = {"purpose": "claim", **data}
    if odd is not None:
        key, odd_value = odd
        holder = data.setdefault("n", {}) if nested and isinstance(data.get("n", {}), dict) else data
        holder[key] = odd_value
    if by_altcha:
        try:
            payload = _signed(secret, data=data)
        except ValueError:  # altcha refuses to sign a __proto__ key
            assume(False)
    else:
        payload = _signed_by_python_json(secret, {"expiresAt": int(time.time()) + 60, "data": data})
    if mutate in ("counter", "derivedKey"):
        payload["solution"][mutate] = value
    elif mutate == "signature":
        payload["challenge"]["signature"] = value
    elif mutate != "none":
        _params(payload)[mutate] = value
    encoded = _encode(payload)

    try:
        reference = _altcha_verdict(encoded, secret)
    except (ValueError, TypeError, AttributeError) as exc:
        with pytest.raises(type(exc)):
            _verdict(encoded, secret)
        return
    fast = _verdict_fast(_decode(encoded), secret)

    assert fast in (None, reference)
    assert _verdict(encoded, secret)[0] == reference


# proof_verify's answers: the codes (and their messages) clients and pages branch on.
FAILED = "The 'I am not a robot' check failed. Reload the page and try again."
EXPIRED = "The 'I am not a robot' check has expired. Reload the page and try again."
REPLAYED = "This 'I am not a robot' check was already used. Reload the page and try again."
REQUIRED = "Please wait until the 'I am not a robot' check is done (it needs JavaScript), then submit again."


def _refusal(payload: str, purpose: str = "claim") -> tuple[str, str]:
    with pytest.raises(DomainError) as exc:
        proof_verify(payload=payload, purpose=purpose)
    assert exc.value.field == "altcha"
    with translation.override("en"):
        return exc.value.code, str(exc.value.message)


@pytest.mark.parametrize(("build", "expected"), [
    (lambda s: "", ("altcha_required", REQUIRED)),
    (lambda s: "A" * 4001, ("altcha_invalid", FAILED)),
    (lambda s: "not base64!", ("altcha_invalid", FAILED)),
    (OURS["expired"][0], ("altcha_expired", EXPIRED)),
    (OURS["expired and badly signed (expiry is checked first)"][0], ("altcha_expired", EXPIRED)),
    (OURS["wrong secret"][0], ("altcha_invalid", FAILED)),
    (OURS["counter + 1"][0], ("altcha_invalid", FAILED)),
    (OURS["purpose changed after signing"][0], ("altcha_invalid", FAILED)),
    (_tamper(lambda p: None, purpose="register"), ("altcha_invalid", FAILED)),
    (OTHERS["no expiry"][0], ("altcha_invalid", FAILED)),  # altcha accepts it, proof_verify needs an expiry
    (OTHERS["float signed by json.dumps (1.0, altcha-lib writes 1)"][0], ("altcha_invalid", FAILED)),
], ids=["empty", "too long", "garbage", "expired", "expired, bad signature", "wrong secret", "wrong counter",
        "purpose tampered", "signed for another purpose", "no expiry", "float mis-signed"])
def test_proof_verify_refuses_with_the_same_codes(db, build, expected):
    assert _refusal(build(_secret())) == expected


@pytest.mark.parametrize("build", [OURS["valid"][0], OTHERS["non-ASCII data"][0],
                                   lambda s: challenge_solve(challenge_create(purpose="claim"))],
                         ids=["fast path", "altcha path", "issued and solved"])
def test_proof_verify_accepts_a_valid_proof_once(db, build):
    payload = build(_secret())

    proof_verify(payload=payload, purpose="claim")

    assert _refusal(payload) == ("altcha_replayed", REPLAYED)
