"""Largest-remainder apportionment, the fairness report and the ``python -m allot.lottery`` commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allot.lottery import DrawError, verify_bundle
from allot.lottery.apportion import apportion
from allot.lottery.fairness import Record, fairness_report, records_from_result

from .builders import make_draw

ROOT = Path(__file__).resolve().parents[2]


def test_apportion_example_and_tie_break() -> None:
    assert apportion(total_units=10, demand_by_outlet={"B": 1, "A": 1, "C": 1}) == {"A": 4, "B": 3, "C": 3}
    assert apportion(total_units=7, demand_by_outlet={"X": 50, "Y": 30, "Z": 20}) == {"X": 4, "Y": 2, "Z": 1}
    assert apportion(total_units=5, demand_by_outlet={"A": 1, "B": 3}) == {"A": 1, "B": 4}


def test_apportion_without_demand_is_an_error() -> None:
    with pytest.raises(DrawError) as info:
        apportion(total_units=5, demand_by_outlet={"A": 0})
    assert info.value.code == "no_demand"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.dictionaries(st.sampled_from("ABCDEFGH"), st.integers(0, 5000), min_size=1))
def test_apportion_sums_exactly_and_stays_within_one_of_the_quota(total: int, demand: dict[str, int]) -> None:
    if sum(demand.values()) == 0:
        return
    shares = apportion(total_units=total, demand_by_outlet=demand)
    assert sum(shares.values()) == total
    d = sum(demand.values())
    for o, s in shares.items():
        exact_floor = total * demand[o] // d
        assert exact_floor <= s <= exact_floor + 1


def test_dv2012_detector_flags_winners_from_the_first_buckets() -> None:
    records = [Record(f"{i:032x}", "350203", "A", won=i < 100) for i in range(1000)]
    buckets = {r.entry_id: f"day{int(r.entry_id, 16) * 30 // 1000:02d}" for r in records}
    report = fairness_report(records=records, buckets=buckets)
    assert report.bucket_df == 29 and report.bucket_p_value is not None and report.bucket_p_value < 1e-9
    assert "NOT spread like a fair draw" in report.render_text()


def test_fairness_report_on_a_real_draw() -> None:
    _, r = make_draw()
    records = records_from_result(r)
    report = fairness_report(
        records=records, buckets={rec.entry_id: str(i & 1) for i, rec in enumerate(records)}
    )
    assert report.entrants == 12 and report.winners == 6
    assert sum(b.entrants for b in report.buckets) == 12
    assert {x.label for x in report.by_district} == {"350203", "350206"}
    rates = [x.rate for x in report.by_outlet]
    if min(rates) > 0:
        assert report.outlet_rate_ratio == pytest.approx(max(rates) / min(rates))
    else:
        assert report.outlet_rate_ratio is None
    assert '"entrants": 12' in report.to_json()


def test_simulate_command_writes_a_bundle_that_verifies(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "allot.lottery",
            "simulate",
            "--entrants",
            "300",
            "--outlets",
            "12",
            "--out",
            str(out),
            "--seed",
            "s",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert "300 entrants" in done.stdout
    assert "SYNTHETIC" in verify_bundle(out).summary()


def test_rfc3797_command_prints_positions() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "allot.lottery",
            "rfc3797",
            "--pool",
            "25",
            "--count",
            "11",
            "--source",
            "9319",
            "--source",
            "2 5 12 8 10",
            "--source",
            "9 18 26 34 41 45",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.stdout.split() == ["17", "7", "2", "16", "25", "23", "8", "24", "19", "13", "22"]


def test_fairness_command_reads_a_bundle_and_flags_rigged_buckets(tmp_path: Path) -> None:
    from allot.lottery.__main__ import main

    out = tmp_path / "sim"
    assert main(["simulate", "--entrants", "400", "--outlets", "4", "--out", str(out), "--seed", "f"]) == 0
    results = (out / "results.csv").read_text(encoding="utf-8").splitlines()[1:]
    rows = [r.split(",") for r in results]
    # Buckets that sort winners first — what DV-2012's unshuffled program produced — must be flagged;
    # buckets by entry id (independent of the draw) must not.
    rigged = tmp_path / "rigged.csv"
    rigged.write_text("entry_id,bucket\n" + "".join(f"{r[1]},{'day1' if r[3] else 'day2'}\n" for r in rows),
                      encoding="utf-8")
    fair = tmp_path / "fair.csv"
    fair.write_text("entry_id,bucket\n" + "".join(f"{r[1]},{r[1][0] < '8'}\n" for r in rows), encoding="utf-8")
    from allot.lottery.__main__ import _fairness

    assert _fairness(str(out), str(rigged)).bucket_p_value < 1e-6
    assert _fairness(str(out), str(fair)).bucket_p_value > 0.001
    assert _fairness(str(out), None).entrants == 400
