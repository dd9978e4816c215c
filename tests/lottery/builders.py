"""Builders shared by the lottery tests (pure Python: no database, no Django)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from allot.lottery import Commitment, DrawResult, Entry, commit, draw, round_for

COMMITTED_AT = datetime(2025, 3, 1, 1, 0, 0, tzinfo=UTC)
SIGNATURE = bytes(range(48))
DIGITS = "402917"


def eid(i: int) -> str:
    """A deterministic 32-hex entry id (tests only)."""
    return hashlib.sha256(b"entry-%d" % i).hexdigest()[:32]


def small_entries(n: int = 12) -> list[Entry]:
    outlets = ("P001", "P002", "P003")
    out = []
    for i in range(n):
        k = i % 3
        prefs = outlets[k:] + outlets[:k]
        out.append(
            Entry(
                entry_id=eid(i),
                district="350203" if i % 2 else "350206",
                prefs=prefs[: 1 + (i % 3)],
                weight=1 + (i % 4),
            )
        )
    return out


def make_draw(
    entries: list[Entry] | None = None,
    quotas: dict[str, int] | None = None,
    draw_id: str = "xm-test",
    min_gap: int = 60,
) -> tuple[Commitment, DrawResult]:
    entries = small_entries() if entries is None else entries
    quotas = {"P001": 2, "P002": 3, "P003": 1} if quotas is None else quotas
    rnd = round_for(committed_at=COMMITTED_AT, min_gap_seconds=min_gap)
    c = commit(
        draw_id=draw_id,
        campaign="厦门口罩 test",
        committed_at=COMMITTED_AT,
        entries=entries,
        quotas=quotas,
        beacon_round=rnd,
        min_gap_seconds=min_gap,
        notary_digits_min=6,
    )
    r = draw(commitment=c, randomness_round=rnd, signature=SIGNATURE, notary_digits=DIGITS)
    return c, r
