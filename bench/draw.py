"""Benchmark of allot-draw/v1: commitment, draw, results file, verification, peak memory.

    python bench/draw.py               # 1,000,000 entrants
    python bench/draw.py --n 10000000  # 10,000,000 entrants

Entrants have mixed weights (1: 70 %, 2: 20 %, 3: 10 %) and 1-3 preferences; the synthetic pool is built
(outside the timings) by ``allot.lottery.simulate.synthetic_table`` with its ids already sorted, as a
database ``ORDER BY entry_id`` would hand them over.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from allot.lottery.engine import SYNTHETIC, commit, draw, round_for, write_bundle
from allot.lottery.simulate import synthetic_table
from allot.lottery.verify import _numpy, verify_bundle


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--outlets", type=int, default=1000)
    ap.add_argument("--keep", help="write the bundle here instead of a temporary folder")
    args = ap.parse_args()
    print(
        f"entrants {args.n:,}, outlets {args.outlets}, numpy {'yes' if _numpy() else 'no'}, "
        f"python {sys.version.split()[0]}, cpus {os.cpu_count()}"
    )
    t = time.perf_counter()
    sim = synthetic_table(entrants=args.n, outlets=args.outlets, seed=b"bench")
    print(f"  (setup: synthetic pool {time.perf_counter() - t:.2f} s, not counted)")
    at = datetime(2025, 1, 1, tzinfo=UTC)
    rnd = round_for(committed_at=at, min_gap_seconds=60, beacon=SYNTHETIC)

    t0 = time.perf_counter()
    c = commit(
        draw_id="bench",
        campaign="bench",
        committed_at=at,
        entries=sim.table,
        quotas=sim.quotas,
        beacon_round=rnd,
        min_gap_seconds=60,
        notary_digits_min=6,
        beacon_kind="synthetic",
    )
    t1 = time.perf_counter()
    r = draw(commitment=c, randomness_round=rnd, signature=b"\x07" * 48, notary_digits="123456")
    t2 = time.perf_counter()
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="allot-bench-"))
    write_bundle(out, commitment=c, result=r)
    t3 = time.perf_counter()
    del c, r, sim
    t4 = time.perf_counter()
    v = verify_bundle(out)
    t5 = time.perf_counter()
    assert len(v.pool) == args.n
    draw_total = t3 - t0
    print(f"  commitment (entries.jsonl + Merkle root): {t1 - t0:7.2f} s")
    print(f"  seed to results (tickets, sort, allocate): {t2 - t1:7.2f} s")
    print(f"  results + bundle files written:          {t3 - t2:7.2f} s")
    print(f"  end to end (commit + draw + files):      {draw_total:7.2f} s")
    print(
        f"  verification (allot-verify logic):       {t5 - t4:7.2f} s  ({(t5 - t4) / draw_total:.2f}x draw)"
    )
    print(f"  peak memory (max RSS of this process):   {peak_rss_mib():7.0f} MiB")
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"  bundle size: {size / 2**20:.0f} MiB in {out}")
    if not args.keep:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
