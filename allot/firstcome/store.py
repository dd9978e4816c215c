"""The hot path of first-come claims in Redis (used when ``REDIS_URL`` is set).

Per campaign day, one hash slot (``{fc:<campaign>:<day>}``) holds:

* ``ready``   — the day has been loaded from the database (absent after a restart or FLUSHDB),
* ``people``  — a set of the blind indexes of the people with a claim that day,
* ``left:<quota id>`` — units left in each area.

``CLAIM`` (one Lua script, so atomic) checks ``ready``, the person, the units left, then decrements and
remembers the person. Only a request it lets through goes on to PostgreSQL, which stays the record of truth:
the claim insert and the conditional ``UPDATE … WHERE taken < units`` there decide, and if they say no the
service gives the Redis unit back (``GIVE_BACK``). So Redis can only ever let *too many* requests through to
the database (which refuses the surplus), never accept a claim by itself.

``day_rebuild`` reloads a day from the database under a Redis lock (``SET NX PX``) so that one process rebuilds
while the others wait for ``ready``. Any Redis error is ``StoreUnavailable``; the service turns it into 503
``temporarily_unavailable`` — a claim is never accepted without the check.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis
from django.conf import settings

KEY_TTL_SECONDS = 3 * 24 * 3600
LOCK_MS = 15_000
WAIT_FOR_REBUILD_SECONDS = 3.0

# KEYS: ready, people, left; ARGV: person. -> 1 taken, 0 sold out, -1 already has one, -2 day not loaded,
# -3 this area's counter not loaded.
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -1 end
local left = redis.call('GET', KEYS[3])
if not left then return -3 end
if tonumber(left) <= 0 then return 0 end
redis.call('DECR', KEYS[3])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# ``CLAIM`` after the abuse controls, for several claims in one round trip (``take_batch``: the claim writer runs
# it once per batch). ARGV[1] is the number of claims; then each claim reads its own KEYS and ARGV in turn:
#   ARGV: has_once ("1"/"0"), n, [once seconds, once value], n windows, n limits, person
#   KEYS: [once key], n counter keys, ready, people, left
# Each claim gets, in order, what ``proof_redeem_counted`` and then ``take`` would give it one after the other:
# REPLAYED (-10) when its proof was used (nothing counted, nothing taken); LIMITED (-11) when a counter is now
# over its limit (counted, the proof spent, nothing taken); else ``CLAIM``'s answer. A claim without a proof
# (has_once "0") is counted and takes its unit; one without counters (n 0) only takes it.
CLAIM_BATCH = """
local out = {}
local k, a = 1, 2
for j = 1, tonumber(ARGV[1]) do
  local has_once, n = ARGV[a] == '1', tonumber(ARGV[a + 1])
  a = a + 2
  local result = 99
  if has_once then
    if not redis.call('SET', KEYS[k], ARGV[a + 1], 'NX', 'EX', ARGV[a]) then result = -10 end
    k, a = k + 1, a + 2
  end
  if result == 99 then
    for i = 0, n - 1 do
      local key = KEYS[k + i]
      local c = redis.call('INCR', key)
      if c == 1 or redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[a + i]) end
      if c > tonumber(ARGV[a + n + i]) then result = -11 end
    end
  end
  k, a = k + n, a + 2 * n
  local ready, people, left_key, person = KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[a]
  k, a = k + 3, a + 1
  if result == 99 then
    if redis.call('EXISTS', ready) == 0 then result = -2
    elseif redis.call('SISMEMBER', people, person) == 1 then result = -1
    else
      local left = redis.call('GET', left_key)
      if not left then result = -3
      elseif tonumber(left) <= 0 then result = 0
      else
        redis.call('DECR', left_key)
        redis.call('SADD', people, person)
        result = 1
      end
    end
  end
  out[j] = result
end
return out
"""

# KEYS: people, left; ARGV: person, mode. mode "unit": the database already had this person's claim — give the
# unit back, keep the person. "sold_out": the database says no unit is left — forget the person, left = 0.
# "both": the write failed — forget the person and give the unit back (once: only if the person was there).
GIVE_BACK = """
if ARGV[2] == 'unit' then
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCR', KEYS[2]) end
  return 1
end
local removed = redis.call('SREM', KEYS[1], ARGV[1])
if ARGV[2] == 'sold_out' then
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SET', KEYS[2], 0, 'KEEPTTL') end
  return removed
end
if removed == 1 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCR', KEYS[2]) end
return removed
"""

# KEYS: left; ARGV: n -> adds n units to a loaded counter (an unloaded one is read from the database later).
ADD_UNITS = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return false
"""

UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

TAKEN, SOLD_OUT, ALREADY, DAY_NOT_LOADED, AREA_NOT_LOADED = 1, 0, -1, -2, -3
REPLAYED, LIMITED = -10, -11


class StoreUnavailable(Exception):
    """Redis did not answer (down, refused, timed out)."""


_client: redis.Redis | None = None
_client_url = ""
_client_lock = threading.Lock()


def enabled() -> bool:
    return bool(getattr(settings, "REDIS_URL", ""))


def client() -> redis.Redis:
    """One connection pool per process (threads share it). Short timeouts: a claim waits at most ~0.5 s for
    Redis before it is refused with 503."""
    global _client, _client_url
    url = settings.REDIS_URL
    if _client is None or _client_url != url:
        with _client_lock:
            if _client is None or _client_url != url:
                _client = redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.5,
                                               health_check_interval=30, max_connections=256)
                _client_url = url
    return _client


def _tag(campaign_id: int, day: dt.date) -> str:
    return f"allot:{{fc:{campaign_id}:{day:%Y%m%d}}}"


def day_keys(campaign_id: int, day: dt.date) -> tuple[str, str]:
    tag = _tag(campaign_id, day)
    return f"{tag}:ready", f"{tag}:people"


def left_key(campaign_id: int, day: dt.date, quota_id: int) -> str:
    return f"{_tag(campaign_id, day)}:left:{quota_id}"


def _lock_key(campaign_id: int, day: dt.date) -> str:
    return f"{_tag(campaign_id, day)}:rebuild"


_scripts: dict[tuple[int, str], Any] = {}


def _call(script: str, keys: list[str], args: list[str | int]) -> object:
    """Run ``script`` by its SHA1 (``EVALSHA``; redis-py loads it on ``NOSCRIPT``, e.g. after a Redis restart):
    sending the script's text with every claim cost a fifth of the Redis time of a claim."""
    r = client()
    registered = _scripts.get((id(r), script))
    if registered is None:
        registered = _scripts[(id(r), script)] = r.register_script(script)
    try:
        return registered(keys=keys, args=args)
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc


def take(*, campaign_id: int, day: dt.date, quota_id: int, person: str) -> int:
    """Run ``CLAIM``: one of TAKEN, SOLD_OUT, ALREADY, DAY_NOT_LOADED, AREA_NOT_LOADED."""
    ready, people = day_keys(campaign_id, day)
    return int(_call(CLAIM, [ready, people, left_key(campaign_id, day, quota_id)], [person]))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Take:
    """One claim's part of ``take_batch``: its unit (campaign day, quota, the person's blind index), and what is
    done before it — ``once`` (key, seconds, value): the proof of work's replay key, set once; ``counters`` (key,
    window seconds, limit): the rate counters of the attempt."""

    campaign_id: int
    day: dt.date
    quota_id: int
    person: str
    once: tuple[str, int, str] | None = None
    counters: tuple[tuple[str, int, int], ...] = ()


def take_batch(takes: Sequence[Take]) -> list[int]:
    """Run ``CLAIM_BATCH`` for ``takes``, in their order, in one round trip: for each, REPLAYED, LIMITED or
    ``CLAIM``'s answer (TAKEN, SOLD_OUT, ALREADY, DAY_NOT_LOADED, AREA_NOT_LOADED).

    Why one script for many claims: the claim writer takes the claims that arrived together, and a round trip to
    Redis cost a claim ~120–190 µs of CPU in the client (bench/README.md); one call per batch instead of one per
    claim, and no Redis call at all on the request side (docs/adr/0012-claim-lane.md)."""
    if not takes:
        return []
    keys, args = take_batch_args(takes)
    return [int(v) for v in cast(list[Any], _call(CLAIM_BATCH, keys, args))]


def take_batch_args(takes: Sequence[Take]) -> tuple[list[str], list[str | int]]:
    """``CLAIM_BATCH``'s KEYS and ARGV for ``takes``."""
    keys: list[str] = []
    args: list[str | int] = [len(takes)]
    for t in takes:
        ready, people = day_keys(t.campaign_id, t.day)
        args += ["1" if t.once is not None else "0", len(t.counters)]
        if t.once is not None:
            key, seconds, value = t.once
            keys.append(key)
            args += [seconds, value]
        keys += [k for k, _w, _l in t.counters]
        args += [w for _k, w, _l in t.counters]
        args += [limit for _k, _w, limit in t.counters]
        keys += [ready, people, left_key(t.campaign_id, t.day, t.quota_id)]
        args.append(t.person)
    return keys, args


def take_counted(*, campaign_id: int, day: dt.date, quota_id: int, person: str, once: tuple[str, int, str],
                 counters: list[tuple[str, int, int]]) -> int:
    """``take_batch`` for one claim with a proof: REPLAYED, LIMITED or ``CLAIM``'s answer."""
    return take_batch([Take(campaign_id=campaign_id, day=day, quota_id=quota_id, person=person, once=once,
                            counters=tuple(counters))])[0]


def give_back(*, campaign_id: int, day: dt.date, quota_id: int, person: str, mode: str) -> None:
    _ready, people = day_keys(campaign_id, day)
    _call(GIVE_BACK, [people, left_key(campaign_id, day, quota_id)], [person, mode])


def add_units(*, campaign_id: int, day: dt.date, quota_id: int, units: int) -> None:
    _call(ADD_UNITS, [left_key(campaign_id, day, quota_id)], [units])


def left(*, campaign_id: int, day: dt.date, quota_ids: Iterable[int]) -> dict[int, int] | None:
    """Units left per quota as Redis has them, or None when the day is not loaded."""
    ids = list(quota_ids)
    ready, _people = day_keys(campaign_id, day)
    try:
        values = cast(list[Any], client().mget([ready, *[left_key(campaign_id, day, q) for q in ids]]))
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    if values[0] is None:
        return None
    return {q: max(0, int(v)) for q, v in zip(ids, values[1:], strict=True) if v is not None}


def area_load(*, campaign_id: int, day: dt.date, quota_id: int, units_left: int) -> None:
    """Load one area's counter if it is missing (SET NX: a counter already in use is never overwritten)."""
    try:
        client().set(left_key(campaign_id, day, quota_id), max(0, units_left), nx=True, ex=KEY_TTL_SECONDS)
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc


def area_forget(*, campaign_id: int, day: dt.date, quota_id: int) -> None:
    """Drop one area's counter so the next claim reloads it from the database (after its units changed)."""
    try:
        client().delete(left_key(campaign_id, day, quota_id))
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc


def day_rebuild(*, campaign_id: int, day: dt.date,
                load: Callable[[], tuple[Iterable[str], dict[int, int]]], wait: bool = True) -> bool:
    """Load a day into Redis under a lock. Returns True if this call rebuilt it; with another process holding
    the lock, waits (up to ``WAIT_FOR_REBUILD_SECONDS``) for it to finish and returns False.

    ``load()`` reads the day from the database — the blind indexes of the people with a claim and the units
    left per quota — and is called only once the lock is held, and only if the day is still not loaded then: a
    process that found the day missing may get the lock just after another one loaded it, and claims may already
    have taken units in Redis that the database does not have yet (their batch is still being written) — loading
    again would hand those units and those people's places out a second time (PostgreSQL's constraints would
    refuse the surplus, but the residents would have waited for a refusal). Returns False then too."""
    r = client()
    token = secrets.token_hex(8)
    ready, people_key = day_keys(campaign_id, day)
    lock = _lock_key(campaign_id, day)
    try:
        if not r.set(lock, token, nx=True, px=LOCK_MS):
            if not wait:
                return False
            deadline = time.monotonic() + WAIT_FOR_REBUILD_SECONDS
            while time.monotonic() < deadline:
                if r.exists(ready):
                    return False
                time.sleep(0.02)
            raise StoreUnavailable("another process is rebuilding the first-come counters")
        try:
            if r.exists(ready):   # loaded by another process between our check and our lock: re-check, not reload
                return False
            people, left_by_quota = load()
            pipe = r.pipeline(transaction=True)
            pipe.delete(people_key)
            batch: list[str] = []
            for person in people:
                batch.append(person)
                if len(batch) >= 1000:
                    pipe.sadd(people_key, *batch)
                    batch = []
            if batch:
                pipe.sadd(people_key, *batch)
            pipe.expire(people_key, KEY_TTL_SECONDS)
            for quota_id, units_left in left_by_quota.items():
                pipe.set(left_key(campaign_id, day, quota_id), max(0, units_left), ex=KEY_TTL_SECONDS)
            pipe.set(ready, "1", ex=KEY_TTL_SECONDS)
            pipe.execute()
        finally:
            r.eval(UNLOCK, 1, lock, token)
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    return True
