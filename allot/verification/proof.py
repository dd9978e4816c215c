"""Proof of work (ALTCHA v2, the ``altcha`` package) in front of registration and one-time codes.

A challenge is an HMAC-signed set of parameters: ``SHA-256(salt || nonce || uint32(counter))`` must start with
a key prefix that the server computed from a counter it drew uniformly below ``ALLOT_ALTCHA_MAX_NUMBER``; the
client finds the counter by trying 0, 1, 2, … (on average max/2 hashes, one SHA-256 each). The challenge
carries its purpose and an expiry, both signed. The server verifies with one hash, and remembers each redeemed
challenge (``UsedChallenge``, unique digest) until it expires, so a solved challenge works exactly once.

On the first-come claim path (``hot=True``) the replay memory is Redis (``SET NX`` with the challenge's expiry)
when ``REDIS_URL`` is set, else the process's write-behind buffer (``allot/verification/buffer.py``), so that a
claim does not pay a write transaction of its own for it. Either store down → 503 ``rate_limit_unavailable``.

Settings (read at call time): ``ALLOT_ALTCHA_MAX_NUMBER`` (difficulty, default 50,000: well under a second in
a phone browser, a real cost for a script doing thousands), ``ALLOT_ALTCHA_TTL_SECONDS`` (default 1,200).
The HMAC key is derived from ``SECRET_KEY``.

Load generators that hold the server's ``SECRET_KEY`` make valid proofs cheaply with ``proofs_presolved``.

Verification decodes the payload once. A challenge of the shape this module issues (SHA-256, cost 1, key length 32,
an int expiry, parameters whose canonical JSON ``json`` writes byte for byte as altcha-lib does) is checked here
with ``hashlib``/``hmac``; anything else goes to ``altcha.verify_solution``, so the decision is always altcha's.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import secrets
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import altcha
import redis
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from allot.core.conf import setting
from allot.core.errors import DomainError
from allot.verification.models import UsedChallenge
from allot.verification.ratelimit import (
    AlreadyUsed,
    rate_count,
    rate_limit,
    rate_limited,
    redis_client,
    store_prefix,
    unavailable,
)

logger = logging.getLogger("allot.verification")

FIELD = "altcha"
ALGORITHM = "SHA-256"
MAX_PAYLOAD = 4000
PURPOSES = ("register", "status_code", "claim")
DEFAULT_MAX_NUMBER = 50_000
DEFAULT_TTL_SECONDS = 20 * 60
_KEY_SALT = "allot.verification.altcha"


def _secret(secret_key: str | None = None) -> str:
    return _signing_secret(setting("SECRET_KEY") if secret_key is None else secret_key)


@functools.lru_cache(maxsize=8)
def _signing_secret(secret_key: str) -> str:
    # Cached per key (a settings override in tests is a different key): salted_hmac costs ~3 µs a claim.
    return salted_hmac(_KEY_SALT, "challenge-signing", secret=secret_key).hexdigest()


def _max_number() -> int:
    return max(1, int(setting("ALLOT_ALTCHA_MAX_NUMBER", DEFAULT_MAX_NUMBER)))


def challenge_create(*, purpose: str) -> dict[str, Any]:
    """A fresh signed challenge for ``purpose`` as the JSON object the client solves."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown proof purpose {purpose!r}")
    ttl = int(setting("ALLOT_ALTCHA_TTL_SECONDS", DEFAULT_TTL_SECONDS))
    challenge = altcha.create_challenge(
        ALGORITHM, 1, counter=secrets.randbelow(_max_number()), expires_at=int(time.time()) + ttl,
        data={"purpose": purpose}, hmac_secret=_secret())
    return challenge.to_dict()


def challenge_solve(challenge: dict[str, Any], *, timeout: float = 60.0) -> str:
    """Solve a challenge the way a client does and return the base64 payload to submit (for Python clients,
    the load tests and the test suite; browsers use ``static/allot/altcha.js``)."""
    parsed = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(parsed, timeout=timeout)
    if solution is None:
        raise TimeoutError("challenge not solved in time")
    return altcha.Payload(parsed, solution).to_base64()


def proofs_presolved(*, purpose: str, count: int = 1, secret_key: str | None = None, max_number: int = 1,
                     ttl_seconds: int = DEFAULT_TTL_SECONDS) -> list[str]:
    """``count`` valid ``altcha`` payloads for ``purpose``, made cheaply, for load generators and benchmarks that
    hold the server's ``DJANGO_SECRET_KEY`` (``secret_key``; None: this process's ``SECRET_KEY``). Each is a fresh
    challenge signed exactly as ``challenge_create`` signs it, at difficulty ``max_number`` (1: the first counter
    tried is the answer, one SHA-256), and solved here: about 70 µs each. The server accepts each once, like a
    proof solved in a browser (it does not know the difficulty a challenge was made with, only that it signed
    it) — which is why only a holder of the secret key can make proofs this way. Keep the payloads in memory
    for the run; they expire after ``ttl_seconds``."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown proof purpose {purpose!r}")
    secret = _secret(secret_key)
    expires_at = int(time.time()) + ttl_seconds
    out = []
    for _n in range(count):
        challenge = altcha.create_challenge(ALGORITHM, 1, counter=secrets.randbelow(max(1, max_number)),
                                            expires_at=expires_at, data={"purpose": purpose}, hmac_secret=secret)
        solution = altcha.solve_challenge(challenge)
        assert solution is not None  # no timeout at this difficulty
        out.append(altcha.Payload(challenge, solution).to_base64())
    return out


def _error(code: str, message: Any, status: int = 400) -> DomainError:
    return DomainError(message, code=code, field=FIELD, status=status)


@dataclass(frozen=True)
class Solved:
    """A checked proof of work, not yet redeemed."""

    digest: str       # SHA-256 of its signature: the key of the replay memory
    purpose: str
    expires_at: int   # Unix seconds


def proof_verify(*, payload: str, purpose: str, hot: bool = False) -> None:
    """Accept a solved challenge for ``purpose`` once; raise ``DomainError`` (field ``altcha``) otherwise:
    altcha_required, altcha_invalid, altcha_expired, altcha_replayed; 503 rate_limit_unavailable when the replay
    memory cannot be reached. ``hot``: remember it in Redis or the write-behind buffer (see the module
    docstring) instead of a transaction of its own."""
    solved = proof_check(payload=payload, purpose=purpose)
    if hot:
        if not _redeem_hot(solved.digest, purpose, solved.expires_at):
            raise replayed_error()
        return
    try:
        with transaction.atomic():
            UsedChallenge.objects.create(digest=solved.digest, purpose=purpose,
                                         expires_at=dt.datetime.fromtimestamp(solved.expires_at, tz=dt.UTC))
    except IntegrityError:
        raise replayed_error() from None


def proof_redeem_counted(*, solved: Solved, scope: str, keys: dict[str, str]) -> None:
    """Redeem a checked proof (``proof_check``) as ``proof_verify(hot=True)`` does, then
    ``rate_limit(scope=…, keys=…, buffered=True)``, with the same answers — in one round trip to Redis when
    ``REDIS_URL`` is set (the claim path paid three: replay memory, counters, the claim script; a third of a
    claim's CPU on PostgreSQL + Redis went to redis-py). A proof already used is refused (altcha_replayed) before
    anything is counted, as when the two are called one after the other."""
    url = setting("REDIS_URL", "")
    if not url:
        if not _redeem_hot(solved.digest, solved.purpose, solved.expires_at):
            raise replayed_error()
        rate_limit(scope=scope, keys=keys, buffered=True)
        return
    try:
        over = rate_count(scope=scope, keys=keys, buffered=True, once=proof_once(solved))
    except AlreadyUsed:
        raise replayed_error() from None
    if over:
        raise rate_limited()


def proofs_redeem_counted(*, items: Sequence[tuple[Solved | None, dict[str, str]]], scope: str
                          ) -> list[DomainError | None]:
    """Without Redis: ``proof_redeem_counted`` (or, for an item without a proof, ``rate_limit(buffered=True)``) for
    each (proof, keys) of ``items`` in order, the table of redeemed proofs asked once for all of them (the claim
    writer's batch); each item's refusal (``altcha_replayed``, ``rate_limited``) or None. Raises 503
    ``rate_limit_unavailable`` for all when the buffer's table cannot be read."""
    from allot.verification.buffer import write_behind

    wanted = [(s.digest, s.purpose, s.expires_at) for s, _keys in items if s is not None]
    try:
        redeemed = iter(write_behind().redeem_many(wanted))
    except DatabaseError as exc:
        logger.error("proof-of-work replay memory unusable, refusing (%s)", type(exc).__name__)
        raise unavailable() from None
    answers: list[DomainError | None] = []
    for solved, keys in items:
        if solved is not None and not next(redeemed):
            answers.append(replayed_error())
            continue
        try:
            rate_limit(scope=scope, keys=keys, buffered=True)
        except DomainError as exc:
            answers.append(exc)
            continue
        answers.append(None)
    return answers


def proof_check(*, payload: str, purpose: str) -> Solved:
    """The verification half of ``proof_verify``: a solved, unexpired challenge signed by us for ``purpose``, or
    the ``DomainError`` (altcha_required, altcha_invalid, altcha_expired). Redeems nothing."""
    if not payload:
        raise _error("altcha_required", _("Please wait until the 'I am not a robot' check is done (it needs "
                                          "JavaScript), then submit again."))
    if len(payload) > MAX_PAYLOAD:
        raise _error("altcha_invalid", _("The 'I am not a robot' check failed. Reload the page and try again."))
    verdict, decoded = _verdict(payload, _secret())
    if verdict == "expired":
        raise _error("altcha_expired", _("The 'I am not a robot' check has expired. Reload the page and try "
                                         "again."))
    if verdict != "verified":
        raise _error("altcha_invalid", _("The 'I am not a robot' check failed. Reload the page and try again."))
    try:
        params = decoded["challenge"]["parameters"]
        signature = str(decoded["challenge"]["signature"])
        expires_at = int(params["expiresAt"])
        signed_purpose = (params.get("data") or {}).get("purpose")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _error("altcha_invalid", _("The 'I am not a robot' check failed. Reload the page and try "
                                         "again.")) from None
    if signed_purpose != purpose:
        raise _error("altcha_invalid", _("The 'I am not a robot' check failed. Reload the page and try again."))
    return Solved(digest=hashlib.sha256(signature.encode()).hexdigest(), purpose=purpose, expires_at=expires_at)


Verdict = Literal["verified", "expired", "invalid"]

_UNDECODABLE = object()
# altcha.v2.ChallengeParameters.to_dict: these keys are signed when present in the payload, even as null.
_OPTIONAL_PARAMETERS = ("keySignature", "memoryCost", "parallelism", "expiresAt", "data")
_MAX_SAFE_INTEGER = 2**53
_MAX_SIMPLE_DEPTH = 4
_canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def _verdict(payload: str, secret: str) -> tuple[Verdict, Any]:
    """altcha.verify_solution(payload, secret)'s decision (expired before verified, as it reports them) and the
    decoded payload (``_UNDECODABLE`` when it is not base64 of UTF-8 JSON; then the verdict is "invalid")."""
    try:
        # The same calls as altcha.v2.Payload.from_base64, so both refuse exactly the same text.
        decoded = json.loads(base64.b64decode(payload).decode())
    except (ValueError, TypeError, RecursionError):
        return "invalid", _UNDECODABLE
    verdict = _verdict_fast(decoded, secret)
    if verdict is None:
        result = altcha.verify_solution(payload, secret)
        verdict = "expired" if result.expired else "verified" if result.verified else "invalid"
    return verdict, decoded


def _verdict_fast(decoded: Any, secret: str) -> Verdict | None:
    """altcha.verify_solution's decision for a decoded payload whose challenge has the shape ``challenge_create``
    gives it, computed with hashlib/hmac; None for any other payload (altcha then decides). Mirrors
    altcha.v2.verify_solution step by step: expiry, signature present, HMAC over the canonical JSON of
    ``ChallengeParameters.to_dict()``, then (no key-signature secret is passed, so never the key-signature path)
    the counter and SHA-256(salt || nonce || uint32 counter) against the derived key and the signed key prefix."""
    if type(decoded) is not dict:
        return None
    challenge, solution = decoded.get("challenge"), decoded.get("solution")
    if type(challenge) is not dict or type(solution) is not dict:
        return None
    params = challenge.get("parameters")
    if type(params) is not dict:
        return None
    try:
        signed = {"algorithm": params["algorithm"], "cost": params["cost"],
                  "keyLength": params.get("keyLength", 32), "keyPrefix": params.get("keyPrefix", "00"),
                  "nonce": params["nonce"], "salt": params["salt"]}
        counter, derived_key = solution["counter"], solution["derivedKey"]
    except KeyError:
        return None
    expires_at = params.get("expiresAt")
    if type(expires_at) is not int:
        return None
    if expires_at and expires_at < time.time():
        return "expired"
    signature = challenge.get("signature")
    if type(signature) is not str:
        return None
    if not signature:
        return "invalid"
    for key in _OPTIONAL_PARAMETERS:
        if key in params:
            signed[key] = params[key]
    if not _json_is_simple(signed):
        return None
    expected = hmac.digest(secret.encode(), _canonical_json(signed).encode(), "sha256").hex()
    if not hmac.compare_digest(signature.encode("utf-8", "surrogatepass"), expected.encode()):
        return "invalid"
    if type(counter) is not int or not 0 <= counter <= 0xFFFFFFFF:
        return "invalid"
    key_prefix, nonce, salt = signed["keyPrefix"], signed["nonce"], signed["salt"]
    if (signed["algorithm"] != ALGORITHM or type(signed["cost"]) is not int or signed["cost"] != 1
            or type(signed["keyLength"]) is not int or signed["keyLength"] != 32
            or type(key_prefix) is not str or type(nonce) is not str or type(salt) is not str):
        return None
    try:
        # bytes.fromhex as altcha calls it (it also skips whitespace); altcha lets its ValueError escape.
        nonce_bytes, salt_bytes = bytes.fromhex(nonce), bytes.fromhex(salt)
    except ValueError:
        return None
    recomputed = hashlib.sha256(salt_bytes + nonce_bytes + struct.pack(">I", counter)).hexdigest()
    key_matches = type(derived_key) is str and hmac.compare_digest(
        recomputed.encode(), derived_key.encode("utf-8", "surrogatepass"))
    return "verified" if key_matches and recomputed.startswith(key_prefix.lower()) else "invalid"


def _json_is_simple(value: Any, depth: int = 0) -> bool:
    """Whether ``_canonical_json`` writes ``value`` byte for byte as altcha-lib's canonicalJSON does: null, booleans,
    ints within ±2**53, strings of printable ASCII (both escape only ``"`` and ``\\`` there), and objects of such
    with printable-ASCII keys that are not all digits (JS puts array-index keys first) nor ``__proto__``, where
    code-point order is UTF-16 order. Floats, arrays (sortKeys does not descend into them) and deep nesting are
    not simple."""
    if value is None or value is True or value is False:
        return True
    kind = type(value)
    if kind is str:
        return value.isascii() and value.isprintable()
    if kind is int:
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER
    if kind is not dict or depth >= _MAX_SIMPLE_DEPTH:
        return False
    for key, item in value.items():
        if not (type(key) is str and key.isascii() and key.isprintable() and not key.isdigit() and key != "__proto__"
                and _json_is_simple(item, depth + 1)):
            return False
    return True


def replayed_error() -> DomainError:
    """400 ``altcha_replayed``: the answer to a proof of work that was already used."""
    return _error("altcha_replayed", _("This 'I am not a robot' check was already used. Reload the page and try "
                                       "again."))


def proof_once(solved: Solved) -> tuple[str, int, str]:
    """How a checked proof is redeemed in Redis: (key, seconds it is kept, value), set once (``SET NX EX``)."""
    return _replay_key(solved.digest), _seconds_left(solved.expires_at), solved.purpose


def _replay_key(digest: str) -> str:
    """The Redis key that remembers a redeemed challenge."""
    return f"{store_prefix()}:pow:{digest}"


def _seconds_left(expires_at: int) -> int:
    return max(1, expires_at - int(time.time()))


def _redeem_hot(digest: str, purpose: str, expires_at: int) -> bool:
    url = setting("REDIS_URL", "")
    try:
        if url:
            return bool(redis_client(url).set(_replay_key(digest), purpose, nx=True, ex=_seconds_left(expires_at)))
        from allot.verification.buffer import write_behind

        return write_behind().redeem(digest=digest, purpose=purpose, expires_at=expires_at)
    except redis.RedisError as exc:
        logger.error("proof-of-work replay memory unreachable, refusing (%s)", type(exc).__name__)
        raise unavailable() from None
    except DatabaseError as exc:
        logger.error("proof-of-work replay memory unusable, refusing (%s)", type(exc).__name__)
        raise unavailable() from None


def used_challenges_purge(*, now: dt.datetime | None = None) -> int:
    """Forget redeemed challenges that have expired (an expired challenge is refused anyway)."""
    return UsedChallenge.objects.filter(expires_at__lt=now or timezone.now()).delete()[0]
