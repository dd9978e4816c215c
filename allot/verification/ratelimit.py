"""Fixed-window rate limits keyed on what a scalper has to vary: ID number (blind index), phone (blind index),
browser session, and, loosely, the client address (whole neighbourhoods share one address behind carrier NAT).

With ``REDIS_URL`` set the counters live in Redis: one Lua call per request increments every key and sets its
expiry atomically (INCR + EXPIRE). Without Redis they live in the database (``RateCounter``), so that several
app processes on one machine share them: by default one write transaction per request; on the first-come claim
path (``buffered=True``) through the process's write-behind buffer (``allot/verification/buffer.py``: exact
within a process, one batched transaction a second across processes), because a second write transaction per
claim would cost the surge a large share of its throughput on SQLite. Either way the limiter FAILS CLOSED: when
the store cannot be reached the request is refused with 503 ``rate_limit_unavailable``, never let through and
never a 500.

Keys are SHA-256 hashes of scope, kind and value: no raw address, phone or index is written to the store. A
client address is keyed as the address for IPv4 and as its /64 network for IPv6 (one subscriber's line gets a
whole /64: keyed by full address, a script could take a fresh key per request).
``ALLOT_RATE_LIMIT_PREFIX`` (default ``allot:rl``) lets deployments (and test runs) share one Redis database.
Limits per scope and kind are ``(count, window seconds)``; ``ALLOT_RATE_LIMITS`` overrides them, e.g.
``{"register": {"ip": (1000, 3600)}}``.

Why the first-come ``claim`` limits are what they are (docs/security.md has the longer version):

* ``ip`` 300 an hour. Carrier-grade NAT puts many phones behind one IPv4 address: with the usual port-block
  allocation (1,000–4,000 ports per subscriber) some 16–64 subscribers share an address at a time, a few hundred
  in the worst configurations, and a campus or company gateway may put a few hundred behind one. Only attempts
  that reach the claim are counted ("busy" and "sold out" are answered before it), a person claims once a day,
  and a surge is over within the hour of the opening: a real address sends tens of claims in that hour, a large
  gateway perhaps a hundred or two. A script on one address is stopped at 300, whatever ID numbers it makes up.
* ``phone`` 10 a day: one phone claims for a household (2.6 people on average, rarely more than 6) with room
  for a few retries after a typo; a script typing one phone for many made-up ID numbers is stopped at 10.
* ``id`` 5 an hour: an ID number has one claim a day anyway; this bounds retries and probing of one number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.core.conf import setting
from allot.core.errors import DomainError
from allot.verification.models import RateCounter

logger = logging.getLogger("allot.verification")

HOUR = 3600
DAY = 24 * HOUR
DEFAULT_LIMITS: dict[str, dict[str, tuple[int, int]]] = {
    # registration attempts
    "register": {"ip": (600, HOUR), "session": (20, HOUR), "id": (5, HOUR), "phone": (10, HOUR)},
    # asking for a one-time code
    "status_code": {"ip": (300, HOUR), "session": (10, HOUR), "id": (5, HOUR)},
    # SMS actually sent to one phone (enforced silently: see registrations.services)
    "sms_phone": {"phone": (10, HOUR)},
    # typing a one-time code (each code also allows only 5 tries)
    "code_verify": {"ip": (600, HOUR), "session": (30, HOUR)},
    # first-come claims (the reasoning is in the module docstring)
    "claim": {"ip": (300, HOUR), "phone": (10, DAY), "id": (5, HOUR)},
}

_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  local c = redis.call('INCR', key)
  if c == 1 or redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[i]) end
  out[i] = c
end
return out
"""

# The same, after setting a key that may be set only once (KEYS[1], ARGV[1] seconds, ARGV[2] its value): when it
# was already set nothing is counted and the answer is {-1}.
_LUA_ONCE = """
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) then return {-1} end
local out = {}
for i = 2, #KEYS do
  local c = redis.call('INCR', KEYS[i])
  if c == 1 or redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[i + 1]) end
  out[i - 1] = c
end
return out
"""


class AlreadyUsed(Exception):
    """``rate_count(once=…)``: the once-only key was already set; nothing was counted."""


@dataclass(frozen=True)
class Client:
    """Who is asking, as far as the interface can tell: the client address and the browser session (empty for
    API clients)."""

    ip: str = ""
    session: str = ""


def limits(scope: str) -> dict[str, tuple[int, int]]:
    merged = dict(DEFAULT_LIMITS.get(scope, {}))
    merged.update((setting("ALLOT_RATE_LIMITS", None) or {}).get(scope, {}))
    return merged


def address_key(value: str) -> str:
    """What a client address is counted as: an IPv4 address as it is, an IPv6 address as its /64 network (an
    IPv4-mapped one as the IPv4 address); anything that is not an address, unchanged."""
    key = _address_keys.get(value)
    if key is None:
        if len(_address_keys) >= 4096:
            _address_keys.clear()
        key = _address_keys[value] = _address_key(value)
    return key


_address_keys: dict[str, str] = {}   # parsing an address cost a claim ~10 µs; the same addresses come again


def _address_key(value: str) -> str:
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return value
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def _key(scope: str, kind: str, value: str, window: int, now: float) -> tuple[str, int]:
    digest = hashlib.sha256(f"{scope}\x00{kind}\x00{value}".encode()).hexdigest()[:40]
    index = int(now // window)
    return f"{store_prefix()}:{scope}:{kind}:{digest}:{index}", (index + 1) * window


@lru_cache(maxsize=4)
def _redis(url: str) -> Any:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return client, client.register_script(_LUA), client.register_script(_LUA_ONCE)


def redis_client(url: str) -> Any:
    """The limiter's Redis client for ``url`` (short timeouts: a slow Redis is a down Redis)."""
    return _redis(url)[0]


def store_prefix() -> str:
    return setting("ALLOT_RATE_LIMIT_PREFIX", "") or "allot:rl"


def _count_redis(url: str, keys: list[tuple[str, int, int]], once: tuple[str, int, str] | None = None) -> list[int]:
    _client, script, script_once = _redis(url)
    names, windows = [k for k, _w, _e in keys], [w for _k, w, _e in keys]
    if once is None:
        return [int(c) for c in script(keys=names, args=windows)]
    key, seconds, value = once
    counts = [int(c) for c in script_once(keys=[key, *names], args=[seconds, value, *windows])]
    if counts == [-1]:
        raise AlreadyUsed(key)
    return counts


def _count_db(keys: list[tuple[str, int, int]]) -> list[int]:
    counts = []
    with transaction.atomic():
        for key, _window, ends in keys:
            if not RateCounter.objects.filter(key=key).update(count=F("count") + 1):
                try:
                    with transaction.atomic():
                        RateCounter.objects.create(key=key, count=1,
                                                   expires_at=dt.datetime.fromtimestamp(ends, tz=dt.UTC))
                except IntegrityError:
                    RateCounter.objects.filter(key=key).update(count=F("count") + 1)
            counts.append(RateCounter.objects.values_list("count", flat=True).get(key=key))
    return counts


def unavailable() -> DomainError:
    """503 ``rate_limit_unavailable``: the store of the abuse controls cannot be reached; nothing was done."""
    return DomainError(_("The service is busy. Please try again in a few minutes."),
                       code="rate_limit_unavailable", status=503)


def rate_plan(*, scope: str, keys: dict[str, str]) -> list[tuple[str, str, int, int, int]]:
    """What ``rate_count`` counts for ``keys``: (kind, counter key, window seconds, window end, limit) for each
    non-empty key that ``scope`` limits. For a caller that counts in a Redis script of its own (the first-come
    claim writer counts a batch of claims and takes their units in one round trip: ``firstcome.store.take_batch``)."""
    rules = limits(scope)
    now = time.time()
    todo: list[tuple[str, str, int, int, int]] = []
    for kind, value in keys.items():
        if value and kind in rules:
            limit, window = rules[kind]
            key, ends = _key(scope, kind, address_key(value) if kind == "ip" else value, window, now)
            todo.append((kind, key, window, ends, limit))
    return todo


def rate_count(*, scope: str, keys: dict[str, str], buffered: bool = False,
               once: tuple[str, int, str] | None = None) -> list[str]:
    """Count one attempt against each non-empty key of ``keys`` (kind → value) that ``scope`` limits; return
    the kinds now over their limit. Raises 503 ``rate_limit_unavailable`` when the store is down. Without Redis,
    ``buffered`` counts through the process's write-behind buffer instead of a transaction of its own.

    ``once`` (Redis only: ``(key, seconds, value)``): first set that key if it is not set, in the same round
    trip — the replay memory of a proof of work; when it was set already, raise ``AlreadyUsed`` and count
    nothing."""
    todo = rate_plan(scope=scope, keys=keys)
    url = setting("REDIS_URL", "")
    if once is not None and not url:
        raise ValueError("rate_count(once=…) needs Redis")
    if not todo and once is None:
        return []
    triples = [(key, window, ends) for _kind, key, window, ends, _limit in todo]
    try:
        if url:
            counts = _count_redis(url, triples, once)
        elif buffered:
            from allot.verification.buffer import write_behind

            counts = write_behind().count([(key, ends, limit) for _kind, key, _w, ends, limit in todo])
        else:
            counts = _count_db(triples)
    except redis.RedisError as exc:
        logger.error("rate limiter store unreachable, refusing (%s)", type(exc).__name__)
        raise unavailable() from None
    except DatabaseError as exc:
        logger.error("rate limiter table unusable, refusing (%s)", type(exc).__name__)
        raise unavailable() from None
    return [kind for (kind, _k, _w, _e, limit), count in zip(todo, counts, strict=True) if count > limit]


def rate_limited() -> DomainError:
    return DomainError(_("Too many attempts. Please wait an hour and try again, or ask your residents' "
                         "committee for help."), code="rate_limited", status=429)


def rate_limit(*, scope: str, keys: dict[str, str], buffered: bool = False) -> None:
    """Count one attempt; refuse with 429 ``rate_limited`` when any key is over its limit."""
    if rate_count(scope=scope, keys=keys, buffered=buffered):
        raise rate_limited()


def rate_counters_purge(*, now: dt.datetime | None = None) -> int:
    return RateCounter.objects.filter(expires_at__lt=now or timezone.now()).delete()[0]
