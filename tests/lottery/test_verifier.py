"""The standalone verifier accepts an honest bundle and rejects every kind of tampering."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from allot.lottery import (
    DrawError,
    VerificationFailed,
    bundle_zip_bytes,
    commit,
    draw,
    inclusion_proof,
    inclusion_proof_json,
    round_for,
    verify_bundle,
    write_bundle,
)
from allot.lottery import verify as spec

from .builders import COMMITTED_AT, DIGITS, SIGNATURE, make_draw, small_entries

VERIFY_PY = Path(spec.__file__)


def fails_with(path: Path, code: str) -> None:
    with pytest.raises(VerificationFailed) as info:
        verify_bundle(path)
    assert info.value.code == code, info.value


def test_honest_bundle_verifies(bundle_dir: Path) -> None:
    v = verify_bundle(bundle_dir)
    assert len(v.pool) == 12
    assert v.summary().startswith("OK allot-draw/v1 draw xm-test: 12 entries")


@pytest.mark.parametrize("name", spec.BUNDLE_FILES)
def test_any_changed_byte_in_any_file_is_rejected(bundle_dir: Path, name: str) -> None:
    path = bundle_dir / name
    original = path.read_bytes()
    for i in range(len(original)):
        changed = bytearray(original)
        changed[i] ^= 0x01
        path.write_bytes(bytes(changed))
        with pytest.raises(VerificationFailed):
            verify_bundle(bundle_dir)
    path.write_bytes(original)
    verify_bundle(bundle_dir)


def test_swapped_results_rows_are_rejected(bundle_dir: Path) -> None:
    path = bundle_dir / "results.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3], lines[4] = lines[4], lines[3]
    path.write_bytes(b"\n".join(lines))
    fails_with(bundle_dir, "results")


def test_results_rows_with_ranks_renumbered_after_swap_are_rejected(bundle_dir: Path) -> None:
    path = bundle_dir / "results.csv"
    lines = path.read_bytes().decode().split("\n")
    a, b = lines[2].split(","), lines[5].split(",")
    a[0], b[0] = b[0], a[0]
    lines[2], lines[5] = ",".join(b), ",".join(a)
    path.write_bytes("\n".join(lines).encode())
    fails_with(bundle_dir, "results")


def _rewrite_reveal(bundle_dir: Path, **changes: object) -> None:
    r = json.loads((bundle_dir / "reveal.json").read_bytes())
    beacon = r["beacon"]
    for k, v in changes.items():
        if k in beacon:
            beacon[k] = v
        else:
            r[k] = v
    (bundle_dir / "reveal.json").write_bytes(spec.canonical_json(r))


def test_a_different_round_is_rejected(bundle_dir: Path) -> None:
    r = json.loads((bundle_dir / "reveal.json").read_bytes())
    _rewrite_reveal(bundle_dir, round=r["beacon"]["round"] + 1)
    fails_with(bundle_dir, "beacon_round")


def test_randomness_not_hash_of_signature_is_rejected(bundle_dir: Path) -> None:
    _rewrite_reveal(bundle_dir, randomness=hashlib.sha256(b"other").hexdigest())
    fails_with(bundle_dir, "beacon_randomness")


def test_a_short_digit_string_is_rejected(bundle_dir: Path) -> None:
    _rewrite_reveal(bundle_dir, notary_digits="40291")
    fails_with(bundle_dir, "notary_digits")


def test_non_decimal_digits_are_rejected(bundle_dir: Path) -> None:
    _rewrite_reveal(bundle_dir, notary_digits="40291x")
    fails_with(bundle_dir, "notary_digits")


def _forge_manifest(bundle_dir: Path, **beacon_changes: int) -> None:
    """Change the manifest and make every hash-derived value consistent again (a forger's best effort)."""
    m = json.loads((bundle_dir / "manifest.json").read_bytes())
    m["beacon"].update(beacon_changes)
    raw = spec.canonical_json(m)
    (bundle_dir / "manifest.json").write_bytes(raw)
    r = json.loads((bundle_dir / "reveal.json").read_bytes())
    r["beacon"]["round"] = m["beacon"]["round"]
    r["seed"] = spec.seed_bytes(
        manifest_hash=hashlib.sha256(raw).digest(),
        round_no=m["beacon"]["round"],
        randomness=bytes.fromhex(r["beacon"]["randomness"]),
        notary_digits=r["notary_digits"],
    ).hex()
    (bundle_dir / "reveal.json").write_bytes(spec.canonical_json(r))


def test_beacon_round_not_after_the_commitment_is_rejected(bundle_dir: Path) -> None:
    at = int(COMMITTED_AT.timestamp())
    before = (at - spec.QUICKNET_GENESIS_TIME) // 3  # produced before committed_at
    _forge_manifest(bundle_dir, round=before)
    fails_with(bundle_dir, "beacon_timing")


def test_beacon_round_inside_the_min_gap_is_rejected(bundle_dir: Path) -> None:
    at = int(COMMITTED_AT.timestamp())
    r = round_for(committed_at=COMMITTED_AT, min_gap_seconds=1)  # after commitment, but < 60 s
    assert 0 < spec.QUICKNET_GENESIS_TIME + (r - 1) * 3 - at < 60
    _forge_manifest(bundle_dir, round=r)
    fails_with(bundle_dir, "beacon_timing")


def test_a_duplicated_leaf_is_rejected_even_with_consistent_hashes(bundle_dir: Path) -> None:
    lines = (bundle_dir / "entries.jsonl").read_bytes().split(b"\n")[:-1]
    lines.insert(4, lines[3])
    data = b"\n".join(lines) + b"\n"
    (bundle_dir / "entries.jsonl").write_bytes(data)
    m = json.loads((bundle_dir / "manifest.json").read_bytes())
    m["entries"] += 1
    m["entries_sha256"] = hashlib.sha256(data).hexdigest()
    (bundle_dir / "manifest.json").write_bytes(spec.canonical_json(m))
    fails_with(bundle_dir, "entries_order")


def test_missing_file_is_rejected(bundle_dir: Path) -> None:
    (bundle_dir / "reveal.json").unlink()
    fails_with(bundle_dir, "bundle_files")


def test_zip_bundle_verifies_and_is_deterministic(tmp_path: Path) -> None:
    c, r = make_draw()
    data = bundle_zip_bytes(commitment=c, result=r)
    assert data == bundle_zip_bytes(commitment=c, result=r)
    (tmp_path / "b.zip").write_bytes(data)
    assert len(verify_bundle(tmp_path / "b.zip").pool) == 12


def test_engine_refuses_wrong_round_bad_digits_and_randomness_mismatch() -> None:
    c, _ = make_draw()
    rnd = c.beacon_round
    with pytest.raises(DrawError) as e1:
        draw(commitment=c, randomness_round=rnd + 1, signature=SIGNATURE, notary_digits=DIGITS)
    with pytest.raises(DrawError) as e2:
        draw(commitment=c, randomness_round=rnd, signature=SIGNATURE, notary_digits="12345")
    with pytest.raises(DrawError) as e3:
        draw(
            commitment=c,
            randomness_round=rnd,
            signature=SIGNATURE,
            notary_digits=DIGITS,
            randomness=b"\0" * 32,
        )
    assert (e1.value.code, e2.value.code, e3.value.code) == (
        "wrong_round",
        "notary_digits",
        "randomness_mismatch",
    )


def test_engine_refuses_a_round_inside_the_gap_and_duplicate_entries() -> None:
    entries = small_entries()
    kwargs = dict(
        draw_id="d",
        campaign="c",
        committed_at=COMMITTED_AT,
        quotas={"P001": 1},
        min_gap_seconds=60,
        notary_digits_min=6,
    )
    with pytest.raises(DrawError) as e1:
        commit(
            entries=entries, beacon_round=round_for(committed_at=COMMITTED_AT, min_gap_seconds=1), **kwargs
        )
    with pytest.raises(DrawError) as e2:
        commit(
            entries=[*entries, entries[0]],
            beacon_round=round_for(committed_at=COMMITTED_AT, min_gap_seconds=60),
            **kwargs,
        )
    assert (e1.value.code, e2.value.code) == ("beacon_timing", "duplicate_entry")


def test_inclusion_proof_checks_and_rejects_other_entries(bundle_dir: Path, tmp_path: Path) -> None:
    c, _ = make_draw()
    for e in small_entries():
        proof = inclusion_proof(commitment=c, entry_id=e.entry_id)
        spec.check_inclusion_proof(
            proof, merkle_root_hex=c.merkle_root.hex(), tree_size=12, draw_id="xm-test"
        )
    proof = inclusion_proof(commitment=c, entry_id=small_entries()[0].entry_id)
    proof["entry"]["weight"] += 1
    with pytest.raises(DrawError):
        spec.check_inclusion_proof(
            proof, merkle_root_hex=c.merkle_root.hex(), tree_size=12, draw_id="xm-test"
        )


def run_cli(
    *args: str, isolated: bool = False, copy_to: Path | None = None
) -> subprocess.CompletedProcess[str]:
    script = VERIFY_PY
    if copy_to is not None:
        script = copy_to / "verify.py"
        shutil.copy(VERIFY_PY, script)
    flags = ["-I", "-S"] if isolated else []
    return subprocess.run(
        [sys.executable, *flags, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent,
        check=False,
    )


def test_single_file_copy_runs_with_stdlib_only(bundle_dir: Path, tmp_path: Path) -> None:
    # -I -S: no site-packages (no numpy, no py_ecc), no repository on the path
    ok = run_cli(str(bundle_dir), isolated=True, copy_to=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert len(ok.stdout.strip().splitlines()) == 1 and ok.stdout.startswith("OK ")
    bls = run_cli(str(bundle_dir), "--bls", isolated=True, copy_to=tmp_path)
    assert bls.returncode == 2 and "py_ecc" in bls.stderr
    (bundle_dir / "results.csv").write_bytes((bundle_dir / "results.csv").read_bytes()[:-3] + b"\n")
    bad = run_cli(str(bundle_dir), isolated=True, copy_to=tmp_path)
    assert bad.returncode == 1 and bad.stdout.startswith("FAIL results:")


def test_cli_entry_proof(bundle_dir: Path, tmp_path: Path) -> None:
    c, _ = make_draw()
    e = small_entries()[5].entry_id
    (tmp_path / "proof.json").write_bytes(inclusion_proof_json(commitment=c, entry_id=e))
    ok = run_cli(str(bundle_dir), "--entry", e, "--proof", str(tmp_path / "proof.json"))
    assert ok.returncode == 0 and f"entry {e} proven" in ok.stdout
    other = small_entries()[6].entry_id
    bad = run_cli(str(bundle_dir), "--entry", other, "--proof", str(tmp_path / "proof.json"))
    assert bad.returncode == 1 and bad.stdout.startswith("FAIL proof:")


def test_synthetic_beacon_is_named_in_the_summary(tmp_path: Path) -> None:
    rnd = round_for(committed_at=COMMITTED_AT, min_gap_seconds=60)
    c = commit(
        draw_id="sim",
        campaign="c",
        committed_at=COMMITTED_AT,
        entries=small_entries(),
        quotas={"P001": 3},
        beacon_round=rnd,
        min_gap_seconds=60,
        notary_digits_min=6,
        beacon_kind="synthetic",
    )
    r = draw(commitment=c, randomness_round=rnd, signature=b"\x05" * 48, notary_digits="000000")
    summary = verify_bundle(write_bundle(tmp_path / "b", commitment=c, result=r)).summary()
    assert "SYNTHETIC beacon" in summary and "NOT a public randomness source" in summary


def test_bls_quicknet_style_signature_checks_with_a_test_key() -> None:
    pytest.importorskip("py_ecc", reason="optional --bls dependency")
    from py_ecc.bls.hash_to_curve import hash_to_G1
    from py_ecc.bls.point_compression import compress_G1, compress_G2
    from py_ecc.optimized_bls12_381 import G2, multiply

    sk = 0x1234567890ABCDEF
    z1, z2 = compress_G2(multiply(G2, sk))
    pk_hex = (z1.to_bytes(48, "big") + z2.to_bytes(48, "big")).hex()
    msg = hashlib.sha256((1000).to_bytes(8, "big")).digest()
    sig = compress_G1(multiply(hash_to_G1(msg, spec.QUICKNET_DST, hashlib.sha256), sk)).to_bytes(48, "big")
    assert spec.bls_verify_quicknet(round_no=1000, signature=sig, public_key_hex=pk_hex)
    assert not spec.bls_verify_quicknet(round_no=1001, signature=sig, public_key_hex=pk_hex)
