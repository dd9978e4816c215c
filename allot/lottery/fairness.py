"""Per-draw fairness report: the DV-2012 detector and win rates per outlet and district.

Statistics use floats; nothing here feeds the draw. The bundle has no submission times, so the caller
supplies each entry's submission-time bucket label (e.g. the hour or day it registered).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Record:
    """One entrant as the report sees it."""

    entry_id: str
    district: str
    first_pref: str
    won: bool


@dataclass(frozen=True, slots=True)
class BucketRow:
    label: str
    entrants: int
    winners: int
    expected: float  # hypergeometric mean: winners_total * entrants / entrants_total


@dataclass(frozen=True, slots=True)
class RateRow:
    label: str
    entrants: int
    winners: int
    rate: float


@dataclass(frozen=True, slots=True)
class FairnessReport:
    entrants: int
    winners: int
    buckets: tuple[BucketRow, ...]
    bucket_chi2: float | None
    bucket_df: int
    bucket_p_value: float | None
    by_outlet: tuple[RateRow, ...]
    by_district: tuple[RateRow, ...]
    outlet_rate_ratio: float | None  # max/min win rate; None when a rate is 0 or fewer than 2 groups
    district_rate_ratio: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=True)

    def render_text(self) -> str:
        lines = [f"entrants {self.entrants}, winners {self.winners}"]
        if self.buckets:
            p = "n/a" if self.bucket_p_value is None else f"{self.bucket_p_value:.4g}"
            chi = "n/a" if self.bucket_chi2 is None else f"{self.bucket_chi2:.3f}"
            lines.append(
                f"submission-time buckets: chi2 {chi}, df {self.bucket_df}, p {p}"
                + (
                    "  <-- winners are NOT spread like a fair draw"
                    if self.bucket_p_value is not None and self.bucket_p_value < 0.001
                    else ""
                )
            )
            lines += [
                f"  {b.label}: {b.winners}/{b.entrants} won (expected {b.expected:.1f})" for b in self.buckets
            ]
        for title, rows, ratio in (
            ("outlet (first preference)", self.by_outlet, self.outlet_rate_ratio),
            ("district", self.by_district, self.district_rate_ratio),
        ):
            r = "n/a" if ratio is None else f"{ratio:.3f}"
            lines.append(f"win rate per {title}: max/min {r}")
            lines += [f"  {x.label}: {x.winners}/{x.entrants} = {x.rate:.4f}" for x in rows]
        return "\n".join(lines)


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with ``df`` degrees of freedom (regularised upper gamma)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    if x <= 0:
        return 1.0
    a, z = df / 2.0, x / 2.0
    lg = math.lgamma(a)
    if z < a + 1.0:  # series for the lower function
        term = total = 1.0 / a
        k = a
        for _ in range(10000):
            k += 1.0
            term *= z / k
            total += term
            if term < total * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-z + a * math.log(z) - lg))
    # continued fraction (modified Lentz) for the upper function
    tiny = 1e-300
    b = z + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(-z + a * math.log(z) - lg) * h)


def homogeneity_chi2(groups: Iterable[tuple[int, int]]) -> tuple[float, int] | None:
    """Chi-square of a k x 2 (winners, losers) table with fixed margins: ``(statistic, df)``.

    Under a fair draw the winners per group follow the (multivariate) hypergeometric law, whose mean for
    a group of ``n`` is ``W * n / N``; this is the classical statistic comparing against it.
    """
    rows = [(n, w) for n, w in groups if n > 0]
    big_n = sum(n for n, _ in rows)
    big_w = sum(w for _, w in rows)
    if len(rows) < 2 or big_w == 0 or big_w == big_n:
        return None
    stat = 0.0
    for n, w in rows:
        ew = big_w * n / big_n
        el = n - ew
        stat += (w - ew) ** 2 / ew + ((n - w) - el) ** 2 / el
    return stat, len(rows) - 1


def _rates(counts: Mapping[str, list[int]]) -> tuple[tuple[RateRow, ...], float | None]:
    rows = tuple(RateRow(k, v[0], v[1], v[1] / v[0]) for k, v in sorted(counts.items()) if v[0])
    rates = [r.rate for r in rows]
    ratio = max(rates) / min(rates) if len(rates) >= 2 and min(rates) > 0 else None
    return rows, ratio


def fairness_report(*, records: Iterable[Record], buckets: Mapping[str, str] | None = None) -> FairnessReport:
    """Build the report. ``buckets`` maps entry_id -> submission-time bucket label (missing ids skipped)."""
    by_bucket: dict[str, list[int]] = {}
    by_outlet: dict[str, list[int]] = {}
    by_district: dict[str, list[int]] = {}
    n = w = 0
    for r in records:
        n += 1
        w += r.won
        for table, label in ((by_outlet, r.first_pref), (by_district, r.district)):
            c = table.setdefault(label, [0, 0])
            c[0] += 1
            c[1] += r.won
        if buckets is not None and r.entry_id in buckets:
            c = by_bucket.setdefault(buckets[r.entry_id], [0, 0])
            c[0] += 1
            c[1] += r.won
    bn = sum(v[0] for v in by_bucket.values())
    bw = sum(v[1] for v in by_bucket.values())
    bucket_rows = tuple(BucketRow(k, v[0], v[1], bw * v[0] / bn) for k, v in sorted(by_bucket.items()))
    test = homogeneity_chi2((v[0], v[1]) for v in by_bucket.values())
    chi2, df, p = (None, 0, None) if test is None else (test[0], test[1], chi2_sf(test[0], test[1]))
    outlets, outlet_ratio = _rates(by_outlet)
    districts, district_ratio = _rates(by_district)
    return FairnessReport(n, w, bucket_rows, chi2, df, p, outlets, districts, outlet_ratio, district_ratio)


def records_from_result(result: Any) -> list[Record]:
    """Records of a :class:`allot.lottery.engine.DrawResult` (first preference and district per entry)."""
    pool = result.commitment.pool
    out = []
    for idx, outlet in zip(result._order, result._outlets, strict=True):
        g = pool.groups[pool.group_of[idx]]
        out.append(Record(pool.entry_id(idx), g.district, g.prefs[0], bool(outlet)))
    return out
