"""The sold-out flag: once an area's quota is gone, every further request is answered "sold out for today"
without touching the database or the claim script.

A flag is set when the claim script (Redis) or the conditional UPDATE (database) finds no unit left. It lives
in two places: in this process (a dict, ``LOCAL_TTL`` seconds) and in Django's cache (Redis when REDIS_URL is
set, ``SHARED_TTL`` seconds) so the other processes learn it with one cache read. A "not sold out" answer from
the cache is remembered locally for ``NEGATIVE_TTL`` so a busy process asks the cache a few times a second at
most. The TTLs are short on purpose: a flag is a cache, never the decision — when it expires the next request
asks the script or the database again, which re-sets it.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import time
from collections.abc import Iterator

import redis
from django.core.cache import cache

from allot.core import admission

LOCAL_TTL = 2.0
NEGATIVE_TTL = 0.25
SHARED_TTL = 10
WHOLE = "*"   # scope key of the flag "every area of the campaign is sold out today"

_flags: dict[str, float] = {}       # key -> monotonic expiry: sold out
_negative: dict[str, float] = {}    # key -> monotonic expiry: known not sold out
_deferring: contextvars.ContextVar[bool] = contextvars.ContextVar("allot_gate_deferring", default=False)
_due: set[str] = set()              # keys whose shared read was deferred (``shared_reads_deferred``)
_whole_seen: dict[str, dt.date] = {}   # slug -> the last day this process learned every area of it sold out


_keys: dict[tuple[str, dt.date, str], str] = {}
_parts: dict[str, tuple[str, dt.date, str]] = {}   # key -> (slug, day, scope key)


def _key(slug: str, day: dt.date, scope_key: str) -> str:
    key = _keys.get((slug, day, scope_key))
    if key is None:
        if len(_keys) >= 4096:
            _keys.clear()
            _parts.clear()
        key = _keys[(slug, day, scope_key)] = f"allot:fc:soldout:{slug}:{day:%Y%m%d}:{scope_key}"
        _parts[key] = (slug, day, scope_key)
    return key


def flags_clear() -> None:
    _flags.clear()
    _negative.clear()
    _due.clear()
    _whole_seen.clear()
    _unsold.clear()
    admission.replies_clear()


def _seen(slug: str, day: dt.date) -> None:
    if len(_whole_seen) >= 4096:
        _whole_seen.clear()
    _whole_seen[slug] = day


def whole_sold_out_seen(*, slug: str) -> dt.date | None:
    """The last day this process learned that every area of campaign ``slug`` was sold out (its writer found no
    unit left, or it read the shared flag), however long ago its flag lapsed; None if it never did, or has since
    been told units came back. Not a flag: what it says is to be checked against the record
    (``services.sold_out_recheck``) before anyone is told so."""
    return _whole_seen.get(slug)


UNSOLD_QUIET = 1.0   # seconds a look at the record that found units left spares the next refusals another look
_unsold: dict[str, float] = {}   # slug -> until when (monotonic) the record is not to be asked again


def recheck_due(*, slug: str) -> bool:
    """Whether a refusal may ask the record whether campaign ``slug`` sold out (``services.sold_out_recheck``): not
    within ``UNSOLD_QUIET`` of a look that found a unit left."""
    quiet = _unsold.get(slug)
    return quiet is None or quiet <= time.monotonic()


def recheck_found_units(*, slug: str) -> None:
    """A look at the record found a unit left: the refusals of the next ``UNSOLD_QUIET`` seconds ask no more."""
    if len(_unsold) >= 4096:
        _unsold.clear()
    _unsold[slug] = time.monotonic() + UNSOLD_QUIET


def whole_sold_out_forget(*, slug: str, day: dt.date) -> None:
    """The record showed a unit left on ``day``: this process no longer takes ``slug`` for sold out that day."""
    if _whole_seen.get(slug) == day:
        del _whole_seen[slug]


def mark_sold_out(*, slug: str, day: dt.date, scope_key: str, whole_campaign: bool = False) -> None:
    keys = [_key(slug, day, scope_key)] + ([_key(slug, day, WHOLE)] if whole_campaign else [])
    until = time.monotonic() + LOCAL_TTL
    for key in keys:
        _flags[key] = until
        _negative.pop(key, None)
    if whole_campaign or scope_key == WHOLE:
        _seen(slug, day)
    with contextlib.suppress(redis.RedisError, OSError):  # the shared copy is an optimisation
        cache.set_many(dict.fromkeys(keys, 1), timeout=SHARED_TTL)


def clear_sold_out(*, slug: str, day: dt.date, scope_key: str) -> None:
    keys = [_key(slug, day, scope_key), _key(slug, day, WHOLE)]
    for key in keys:
        _flags.pop(key, None)
        _negative.pop(key, None)
    whole_sold_out_forget(slug=slug, day=day)
    admission.replies_clear()   # sold-out answers replayed before Django (allot.core.admission.AdmissionWSGI)
    with contextlib.suppress(redis.RedisError, OSError):
        cache.delete_many(keys)


def sold_out_until(*, slug: str, day: dt.date, scope_key: str) -> float | None:
    """When (``time.monotonic()``) this process's flag of the area expires; None if it has none."""
    until = _flags.get(_key(slug, day, scope_key))
    return until if until is not None and until > time.monotonic() else None


def is_sold_out(*, slug: str, day: dt.date, scope_key: str) -> bool:
    key = _key(slug, day, scope_key)
    now = time.monotonic()
    until = _flags.get(key)
    if until is not None:
        if until > now:
            return True
        del _flags[key]
    neg = _negative.get(key)
    if neg is not None and neg > now:
        return False
    # one thread asks the cache; the others that arrive meanwhile take "not sold out" as before (without this,
    # every thread of a busy process asked at once when the entry expired: a sixth of the claims read the cache)
    _negative[key] = now + NEGATIVE_TTL
    if _deferring.get():
        _due.add(key)
        return False
    return _read_shared(key)


def whole_sold_out_here(*, slug: str, day: dt.date) -> bool:
    """``sold_out_for(slug=slug, day=day, hint=None)[1]`` within ``shared_reads_deferred``, for the claim lane's
    refusals (every one asks, on the event loop): this process's flag alone; a read of the shared copy that falls
    due is deferred (``deferred_reads_run``). Without the context variable's set and reset: a fifth of a
    refusal's own time in the lane (bench/README.md, fifteenth session)."""
    key = _key(slug, day, WHOLE)
    now = time.monotonic()
    until = _flags.get(key)
    if until is not None:
        if until > now:
            return True
        _flags.pop(key, None)
    neg = _negative.get(key)
    if neg is not None and neg > now:
        return False
    _negative[key] = now + NEGATIVE_TTL
    _due.add(key)
    return False


def _read_shared(key: str) -> bool:
    try:
        shared = cache.get(key) is not None
    except (redis.RedisError, OSError):  # cache down: no flag; the claim path itself refuses with 503
        shared = False
    if shared:
        _flags[key] = time.monotonic() + LOCAL_TTL
        _negative.pop(key, None)
        parts = _parts.get(key)
        if parts is not None and parts[2] == WHOLE:
            _seen(parts[0], parts[1])
    return shared


@contextlib.contextmanager
def shared_reads_deferred() -> Iterator[None]:
    """Within the block, ``is_sold_out`` never reads the shared cache: when a read is due it answers from this
    process's flags and remembers the key (``deferred_reads_run`` reads it later). For the claim lane's event
    loop, which must not wait for Redis (a down Redis would stall every request of the process)."""
    token = _deferring.set(True)
    try:
        yield
    finally:
        _deferring.reset(token)


def deferred_reads_pending() -> bool:
    return bool(_due)


def deferred_reads_run() -> None:
    """Read the shared flags of the deferred keys (in a thread of its own: it waits for Redis)."""
    while _due:
        try:
            key = _due.pop()
        except KeyError:
            return
        _read_shared(key)


def scope_field(quota_scope: str) -> str | None:
    """The claim field that names the area of a campaign's quota (None: one city-wide quota)."""
    from allot.campaigns.models import Campaign

    if quota_scope == Campaign.QuotaScope.CITY:
        return None
    return "outlet" if quota_scope == Campaign.QuotaScope.OUTLET else "district"


def sold_out_for(*, slug: str, day: dt.date, hint: str | None) -> tuple[bool, bool]:
    """(sold out, the whole campaign is) for a claim asking for area ``hint`` (None: not said or city-wide), from
    the flags alone: what the admission gate answers early."""
    whole = is_sold_out(slug=slug, day=day, scope_key=WHOLE)
    if whole:
        return True, True
    return (hint is not None and is_sold_out(slug=slug, day=day, scope_key=hint)), False


def area_hint(data: object, field: str) -> str | None:
    """The area a parsed JSON claim body asks for (``field`` from ``scope_field``), unvalidated: only to look a
    flag up."""
    value = data.get(field) if isinstance(data, dict) else None
    return value.strip() if isinstance(value, str) else None
