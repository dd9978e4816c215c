"""``python -m allot.lottery simulate|rfc3797|fairness`` (see ``--help``)."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence

from allot.lottery import rfc3797
from allot.lottery.engine import write_bundle
from allot.lottery.fairness import FairnessReport, Record, fairness_report
from allot.lottery.simulate import simulate
from allot.lottery.verify import DrawError, verify_bundle


def _fairness(bundle: str, buckets_csv: str | None) -> FairnessReport:
    verified = verify_bundle(bundle)
    pool = verified.pool
    records = []
    for idx, outlet in zip(verified.order, verified.outlets, strict=True):
        g = pool.groups[pool.group_of[idx]]
        records.append(Record(pool.entry_id(idx), g.district, g.prefs[0], bool(outlet)))
    buckets = None
    if buckets_csv:
        with open(buckets_csv, encoding="utf-8", newline="") as fh:
            buckets = {row["entry_id"]: row["bucket"] for row in csv.DictReader(fh)}
    return fairness_report(records=records, buckets=buckets)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m allot.lottery")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="write a full bundle for N synthetic entrants (synthetic beacon)")
    s.add_argument("--entrants", type=int, required=True)
    s.add_argument("--outlets", type=int, required=True)
    s.add_argument("--out", required=True, help="bundle folder to write")
    s.add_argument("--seed", help="text seed for a reproducible simulation (default: fresh random)")
    r = sub.add_parser("rfc3797", help="RFC 3797 selection: prints 1-based positions, one per line")
    r.add_argument("--pool", type=int, required=True)
    r.add_argument("--count", type=int, required=True)
    r.add_argument("--source", action="append", required=True, help='e.g. "9319" or "2 5 12 8 10"')
    f = sub.add_parser("fairness", help="verify a bundle, then print its fairness report (win rates per "
                                        "first-choice outlet and district; per submission-time bucket with --buckets)")
    f.add_argument("bundle", help="bundle folder or zip")
    f.add_argument("--buckets", help="CSV with columns entry_id,bucket (e.g. the hour each entry registered)")
    f.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    try:
        if args.command == "simulate":
            seed = None if args.seed is None else args.seed.encode("utf-8")
            c, res = simulate(entrants=args.entrants, outlets=args.outlets, seed=seed)
            out = write_bundle(args.out, commitment=c, result=res)
            won = sum(1 for _ in res.winners())
            print(f"wrote {out}: {len(res)} entrants, {won} allocated, synthetic beacon round {res.round}")
        elif args.command == "fairness":
            report = _fairness(args.bundle, args.buckets)
            print(report.to_json() if args.json else report.render_text())
        else:
            for pos in rfc3797.select(pool=args.pool, count=args.count, sources=args.source):
                print(pos)
    except DrawError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
