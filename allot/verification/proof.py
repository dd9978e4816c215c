"""Proof of work (ALTCHA v2, the ``altcha`` package) in front of registration and one-time codes.

A challenge is an HMAC-signed set of parameters: ``SHA-256(salt || nonce || uint32(counter))`` must start with
a key prefix that the server computed from a counter it drew uniformly below ``ALLOT_ALTCHA_MAX_NUMBER``; the
client finds the counter by trying 0, 1, 2, … (on average max/2 hashes, one SHA-256 each). The challenge
carries its purpose and an expiry, both signed. The server verifies with one hash, and remembers each redeemed
challenge (``UsedChallenge``, unique digest) until it expires, so a solved challenge works exactly once.

Settings (read at call time): ``ALLOT_ALTCHA_MAX_NUMBER`` (difficulty, default 50,000: well under a second in
a phone browser, a real cost for a script doing thousands), ``ALLOT_ALTCHA_TTL_SECONDS`` (default 1,200).
The HMAC key is derived from ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import secrets
import time
from typing import Any

import altcha
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from allot.core.errors import DomainError
from allot.verification.models import UsedChallenge

FIELD = "altcha"
ALGORITHM = "SHA-256"
MAX_PAYLOAD = 4000
PURPOSES = ("register", "status_code")
DEFAULT_MAX_NUMBER = 50_000
DEFAULT_TTL_SECONDS = 20 * 60


def _secret() -> str:
    return salted_hmac("allot.verification.altcha", "challenge-signing").hexdigest()


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


def _error(code: str, message: Any, status: int = 400) -> DomainError:
    return DomainError(message, code=code, field=FIELD, status=status)


def proof_verify(*, payload: str, purpose: str) -> None:
    """Accept a solved challenge for ``purpose`` once; raise ``DomainError`` (field ``altcha``) otherwise:
    altcha_required, altcha_invalid, altcha_expired, altcha_replayed."""
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
    try:
        with transaction.atomic():
            UsedChallenge.objects.create(digest=digest, purpose=purpose,
                                         expires_at=dt.datetime.fromtimestamp(expires_at, tz=dt.UTC))
    except IntegrityError:
        raise _error("altcha_replayed", _("This 'I am not a robot' check was already used. Reload the page and "
                                          "try again.")) from None


def used_challenges_purge(*, now: dt.datetime | None = None) -> int:
    """Forget redeemed challenges that have expired (an expired challenge is refused anyway)."""
    return UsedChallenge.objects.filter(expires_at__lt=now or timezone.now()).delete()[0]
