"""Property tests (hypothesis) of the allocation and of the draw as a whole."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from allot.lottery import Entry, EntryTable, commit, draw, round_for
from allot.lottery import verify as spec

from .builders import COMMITTED_AT

OUTLETS = ("A", "B", "C", "D")


@st.composite
def pools(draw_: st.DrawFn, max_size: int = 25) -> tuple[list[Entry], dict[str, int]]:
    n = draw_(st.integers(0, max_size))
    ids = draw_(st.lists(st.binary(min_size=16, max_size=16), min_size=n, max_size=n, unique=True))
    entries = []
    for raw in ids:
        prefs = draw_(st.lists(st.sampled_from(OUTLETS), min_size=1, max_size=4, unique=True))
        weight = draw_(st.integers(1, 4))
        district = draw_(st.sampled_from(["350203", "350206"]))
        entries.append(Entry(entry_id=raw.hex(), district=district, prefs=tuple(prefs), weight=weight))
    quotas = {o: draw_(st.integers(0, 6)) for o in OUTLETS}
    return entries, quotas


def run(
    entries: list[Entry], quotas: dict[str, int], seed: bytes
) -> tuple[spec.Pool, list[int], list[str], dict[str, int]]:
    t = EntryTable.from_entries(entries)
    pool = spec.Pool("p", t.ids, t.group_of, t.groups)
    order = spec.priority_order(spec.compute_keys(pool, seed))
    outlets, left = spec.allocate(pool, order, quotas)
    return pool, order, outlets, left


def assignment(pool: spec.Pool, order: list[int], outlets: list[str]) -> dict[str, str]:
    return {pool.entry_id(i): o for i, o in zip(order, outlets, strict=True)}


def rank_of(prefs: tuple[str, ...], outlet: str) -> int:
    return prefs.index(outlet) if outlet else len(prefs)


@settings(max_examples=150, deadline=None)
@given(pools(), st.binary(min_size=32, max_size=32))
def test_quota_respected_nobody_twice_no_envious_loser(
    case: tuple[list[Entry], dict[str, int]], seed: bytes
) -> None:
    entries, quotas = case
    pool, order, outlets, left = run(entries, quotas, seed)
    assert sorted(order) == list(range(len(entries)))  # every entrant exactly once
    for o in OUTLETS:
        assert outlets.count(o) + left[o] == quotas[o] and left[o] >= 0
    by_id = {e.entry_id: e for e in entries}
    for eid, got in assignment(pool, order, outlets).items():
        if got:
            assert got in by_id[eid].prefs
        else:  # a loser: every acceptable outlet was empty when their turn came (stock never grows)
            assert all(left[p] == 0 for p in by_id[eid].prefs)


@settings(max_examples=100, deadline=None)
@given(pools(), st.binary(min_size=32, max_size=32), st.randoms(use_true_random=False))
def test_input_order_changes_nothing(
    case: tuple[list[Entry], dict[str, int]], sig: bytes, rnd: object
) -> None:
    entries, quotas = case
    shuffled = list(entries)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    r = round_for(committed_at=COMMITTED_AT, min_gap_seconds=60)
    results = []
    for es in (entries, shuffled):
        c = commit(
            draw_id="p",
            campaign="c",
            committed_at=COMMITTED_AT,
            entries=es,
            quotas=quotas,
            beacon_round=r,
            min_gap_seconds=60,
            notary_digits_min=6,
        )
        d = draw(commitment=c, randomness_round=r, signature=sig, notary_digits="123456")
        results.append((c.manifest_json, c.entries_jsonl, d.reveal_json, d.results_csv))
    assert results[0] == results[1]


@settings(max_examples=150, deadline=None)
@given(pools(), st.binary(min_size=32, max_size=32), st.sampled_from(OUTLETS), st.integers(1, 3))
def test_adding_stock_makes_nobody_worse_off(
    case: tuple[list[Entry], dict[str, int]], seed: bytes, outlet: str, extra: int
) -> None:
    entries, quotas = case
    pool, order, outlets, _ = run(entries, quotas, seed)
    more = dict(quotas)
    more[outlet] += extra
    pool2, order2, outlets2, _ = run(entries, more, seed)
    before, after = assignment(pool, order, outlets), assignment(pool2, order2, outlets2)
    for e in entries:
        assert rank_of(e.prefs, after[e.entry_id]) <= rank_of(e.prefs, before[e.entry_id])


@settings(max_examples=150, deadline=None)
@given(pools(), st.binary(min_size=32, max_size=32), st.integers(0, 10**6))
def test_removing_an_entrant_makes_nobody_worse_off(
    case: tuple[list[Entry], dict[str, int]], seed: bytes, pick: int
) -> None:
    entries, quotas = case
    if not entries:
        return
    gone = entries[pick * len(entries) >> 20 if pick < 1 << 20 else 0]
    rest = [e for e in entries if e is not gone]
    pool, order, outlets, _ = run(entries, quotas, seed)
    pool2, order2, outlets2, _ = run(rest, quotas, seed)
    before, after = assignment(pool, order, outlets), assignment(pool2, order2, outlets2)
    for e in rest:
        assert rank_of(e.prefs, after[e.entry_id]) <= rank_of(e.prefs, before[e.entry_id])


def test_committed_at_in_another_time_zone_gives_the_same_manifest() -> None:
    entries = [Entry(entry_id=f"{i:032x}", district="350203", prefs=("A",)) for i in range(1, 4)]
    r = round_for(committed_at=COMMITTED_AT, min_gap_seconds=60)
    shanghai = COMMITTED_AT.astimezone(timezone(timedelta(hours=8)))
    a, b = (
        commit(
            draw_id="p",
            campaign="c",
            committed_at=at,
            entries=entries,
            quotas={"A": 1},
            beacon_round=r,
            min_gap_seconds=60,
            notary_digits_min=6,
        )
        for at in (COMMITTED_AT, shanghai)
    )
    assert a.manifest_json == b.manifest_json and b"2025-03-01T01:00:00Z" in a.manifest_json


def test_same_bundle_under_another_tz_and_hash_seed(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    digests = []
    for tz, hs in (("UTC", "0"), ("Asia/Shanghai", "12345"), ("America/New_York", "random")):
        out = tmp_path / f"b-{hs}"
        env = {**os.environ, "TZ": tz, "PYTHONHASHSEED": hs, "PYTHONPATH": str(root)}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "allot.lottery",
                "simulate",
                "--entrants",
                "400",
                "--outlets",
                "25",
                "--out",
                str(out),
                "--seed",
                "tz-check",
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        digests.append(tuple(hashlib.sha256((out / f).read_bytes()).hexdigest() for f in spec.BUNDLE_FILES))
    assert digests[0] == digests[1] == digests[2]
