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
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import secrets
import time
from typing import Any

import altcha
import redis
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from allot.core.errors import DomainError
from allot.verification.models import UsedChallenge
from allot.verification.ratelimit import redis_client, store_prefix, unavailable

logger = logging.getLogger("allot.verification")

FIELD = "altcha"
ALGORITHM = "SHA-256"
MAX_PAYLOAD = 4000
PURPOSES = ("register", "status_code", "claim")
DEFAULT_MAX_NUMBER = 50_000
DEFAULT_TTL_SECONDS = 20 * 60
_KEY_SALT = "allot.verification.altcha"


def _secret(secret_key: str | None = None) -> str:
    return salted_hmac(_KEY_SALT, "challenge-signing", secret=secret_key).hexdigest()


def _max_number() -> int:
    return max(1, int(getattr(settings, "ALLOT_ALTCHA_MAX_NUMBER", DEFAULT_MAX_NUMBER)))


def challenge_create(*, purpose: str) -> dict[str, Any]:
    """A fresh signed challenge for ``purpose`` as the JSON object the client solves."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown proof purpose {purpose!r}")
    ttl = int(getattr(settings, "ALLOT_ALTCHA_TTL_SECONDS", DEFAULT_TTL_SECONDS))
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


def proof_verify(*, payload: str, purpose: str, hot: bool = False) -> None:
    """Accept a solved challenge for ``purpose`` once; raise ``DomainError`` (field ``altcha``) otherwise:
    altcha_required, altcha_invalid, altcha_expired, altcha_replayed; 503 rate_limit_unavailable when the replay
    memory cannot be reached. ``hot``: remember it in Redis or the write-behind buffer (see the module
    docstring) instead of a transaction of its own."""
    if not payload:
        raise _error("altcha_required", _("Please wait until the 'I am not a robot' check is done (it needs "
                                          "JavaScript), then submit again."))
    if len(payload) > MAX_PAYLOAD:
        raise _error("altcha_invalid", _("The 'I am not a robot' check failed. Reload the page and try again."))
    result = altcha.verify_solution(payload, _secret())
    if result.expired:
        raise _error("altcha_expired", _("The 'I am not a robot' check has expired. Reload the page and try "
                                         "again."))
    if not result.verified:
        raise _error("altcha_invalid", _("The 'I am not a robot' check failed. Reload the page and try again."))
    try:
        decoded = json.loads(base64.b64decode(payload))
        params = decoded["challenge"]["parameters"]
        signature = str(decoded["challenge"]["signature"])
        expires_at = int(params["expiresAt"])
        signed_purpose = (params.get("data") or {}).get("purpose")
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise _error("altcha_invalid", _("The 'I am not a robot' check failed. Reload the page and try "
                                         "again.")) from None
    if signed_purpose != purpose:
        raise _error("altcha_invalid", _("The 'I am not a robot' check failed. Reload the page and try again."))
    digest = hashlib.sha256(signature.encode()).hexdigest()
    if hot:
        if not _redeem_hot(digest, purpose, expires_at):
            raise _replayed()
        return
    try:
        with transaction.atomic():
            UsedChallenge.objects.create(digest=digest, purpose=purpose,
                                         expires_at=dt.datetime.fromtimestamp(expires_at, tz=dt.UTC))
    except IntegrityError:
        raise _replayed() from None


def _replayed() -> DomainError:
    return _error("altcha_replayed", _("This 'I am not a robot' check was already used. Reload the page and try "
                                       "again."))


def _redeem_hot(digest: str, purpose: str, expires_at: int) -> bool:
    url = getattr(settings, "REDIS_URL", "")
    try:
        if url:
            ttl = max(1, expires_at - int(time.time()))
            return bool(redis_client(url).set(f"{store_prefix()}:pow:{digest}", purpose, nx=True, ex=ttl))
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
