"""Synthetic draws for benchmarks, demos and cross-checks (beacon kind "synthetic": no public source).

Deterministic for a given seed: every random choice comes from SHAKE-256 of the seed, never ``random``.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime

from allot.lottery.engine import SYNTHETIC, Commitment, DrawResult, EntryTable, commit, draw, round_for
from allot.lottery.verify import make_group

OUTLETS_PER_DISTRICT = 10
VARIANTS_PER_LENGTH = 32
SIM_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class _Stream:
    """Unbounded deterministic bytes (SHAKE-256 of seed || block counter)."""

    def __init__(self, seed: bytes, label: bytes) -> None:
        self._seed, self._label, self._block = seed, label, 0

    def take(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            want = min(n - len(out), 1 << 26)
            out += hashlib.shake_256(self._seed + self._label + self._block.to_bytes(8, "big")).digest(want)
            self._block += 1
        return bytes(out)


def _below(r: int, bound: int, bits: int) -> int:
    """Map a uniform ``bits``-bit integer to ``0..bound-1`` by multiply-shift (no modulo)."""
    return (r * bound) >> bits


@dataclass(frozen=True)
class Simulation:
    table: EntryTable
    quotas: dict[str, int]


def synthetic_table(*, entrants: int, outlets: int, seed: bytes) -> Simulation:
    """``entrants`` random entrants over ``outlets`` outlets (10 per district), 1-3 prefs, weights 1-3.

    Weights are 1 (70 %), 2 (20 %), 3 (10 %). Total supply is about a tenth of the entrants.
    """
    if entrants < 0 or outlets < 1:
        raise ValueError("need entrants >= 0 and outlets >= 1")
    codes = [f"O{i:05d}" for i in range(outlets)]
    districts = [codes[i : i + OUTLETS_PER_DISTRICT] for i in range(0, outlets, OUTLETS_PER_DISTRICT)]
    rs = _Stream(seed, b"groups")
    groups = []
    for d, members in enumerate(districts):
        dcode = f"{350100 + d:06d}"[-6:]
        for length in (1, 2, 3):
            for _ in range(VARIANTS_PER_LENGTH):
                pool = list(members)
                prefs = []
                for _ in range(min(length, len(pool))):
                    prefs.append(pool.pop(_below(int.from_bytes(rs.take(4), "big"), len(pool), 32)))
                for weight in (1, 2, 3):
                    groups.append(make_group(dcode, prefs, weight))
    variants = 3 * VARIANTS_PER_LENGTH
    raw_ids = _Stream(seed, b"ids").take(16 * entrants)
    picks = _Stream(seed, b"picks").take(8 * entrants)
    ids = sorted(raw_ids[i : i + 16].hex() for i in range(0, 16 * entrants, 16))
    group_of = array("I")
    nd = len(districts)
    for off in range(0, 8 * entrants, 8):
        r = int.from_bytes(picks[off : off + 8], "big")
        d = _below(r >> 32, nd, 32)
        v = _below((r >> 8) & 0xFFFFFF, variants, 24)
        wb = r & 0xFF
        w = 0 if wb < 179 else (1 if wb < 230 else 2)
        group_of.append((d * variants + v) * 3 + w)
    for a, b in itertools.pairwise(ids):
        if a == b:  # 128-bit collision: astronomically unlikely, but never silently
            raise ValueError("duplicate synthetic entry_id; use another seed")
    table = EntryTable("".join(ids).encode("ascii"), group_of, groups)
    qs = _Stream(seed, b"quotas").take(2 * outlets)
    base = max(1, entrants // (10 * outlets))
    quotas = {
        c: base // 2 + _below(int.from_bytes(qs[2 * i : 2 * i + 2], "big"), base + 1, 16)
        for i, c in enumerate(codes)
    }
    return Simulation(table, quotas)


def simulate(
    *, entrants: int, outlets: int, seed: bytes | None = None, draw_id: str = "sim"
) -> tuple[Commitment, DrawResult]:
    """Commit and draw a synthetic pool with a synthetic beacon (signature = random bytes)."""
    seed = os.urandom(16) if seed is None else seed
    sim = synthetic_table(entrants=entrants, outlets=outlets, seed=seed)
    rnd = round_for(committed_at=SIM_EPOCH, min_gap_seconds=60, beacon=SYNTHETIC)
    c = commit(
        draw_id=draw_id,
        campaign="synthetic simulation",
        committed_at=SIM_EPOCH,
        entries=sim.table,
        quotas=sim.quotas,
        beacon_round=rnd,
        min_gap_seconds=60,
        notary_digits_min=6,
        beacon_kind="synthetic",
    )
    beacon = _Stream(seed, b"beacon").take(56)
    digits = "".join(str(_below(b, 10, 8)) for b in beacon[48:56])
    r = draw(commitment=c, randomness_round=rnd, signature=beacon[:48], notary_digits=digits)
    return c, r
