"""``Idempotency-Key`` for creating registrations: a retry with the same key and body gets the first answer.

Stored in Django's cache (locmem in development, Redis when REDIS_URL is set) for 24 hours under the campaign
slug and the key. The entry holds a keyed hash of the body (an unkeyed hash of a body carrying an ID number
could be brute-forced back to it), the registration number and the rendered 201 body, which contains masked
personal data only. A concurrent request with the same key while the first is still running gets 409
``idempotency_key_in_progress``; a request that failed leaves nothing behind, so its retry runs again.
A cache is not durable storage: after an eviction or a Redis restart a retry runs again and gets
``already_registered`` instead of the first answer (a table would remove that gap).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from allot.core.errors import Conflict

TTL_SECONDS = 24 * 3600
PENDING_SECONDS = 60
_SALT = "allot.api.idempotency"
HEADER = "Idempotency-Key"


def _cache_key(scope: str, key: str) -> str:
    digest = hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()
    return f"allot:api:idem:{digest}"


def body_fingerprint(body: dict[str, Any]) -> str:
    return salted_hmac(_SALT, json.dumps(body, sort_keys=True, ensure_ascii=False)).hexdigest()


def idempotent(*, scope: str, key: str | None, body: dict[str, Any],
               run: Callable[[], tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Run ``run()`` (returning ``(number, response body)``) at most once per ``(scope, key)``; replay its
    response body for a retry with the same body."""
    if not key:
        return run()[1]
    ck, fingerprint = _cache_key(scope, key), body_fingerprint(body)
    if not cache.add(ck, {"fingerprint": fingerprint, "number": None, "body": None}, timeout=PENDING_SECONDS):
        seen = cache.get(ck)
        if seen is not None:
            if not constant_time_compare(seen["fingerprint"], fingerprint):
                raise Conflict(_("This Idempotency-Key was already used for a different request. Use a new "
                                 "key for a new request."), code="idempotency_key_reused", field=HEADER)
            if seen["body"] is None:
                raise Conflict(_("A request with this Idempotency-Key is still being processed. Try again in "
                                 "a few seconds."), code="idempotency_key_in_progress", field=HEADER)
            return dict(seen["body"])
        cache.add(ck, {"fingerprint": fingerprint, "number": None, "body": None}, timeout=PENDING_SECONDS)
    try:
        number, response = run()
    except BaseException:
        cache.delete(ck)
        raise
    cache.set(ck, {"fingerprint": fingerprint, "number": number, "body": response}, timeout=TTL_SECONDS)
    return response
