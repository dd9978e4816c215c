"""allot.lottery: the allot-draw/v1 draw, pure Python (standard library only, no Django).

The full byte-level spec is ``docs/draw-spec.md``; :mod:`allot.lottery.verify` implements its primitives
and is also the standalone verifier (``allot-verify BUNDLE``). The Django app calls only this API:

    from allot.lottery import Entry, commit, draw, round_for, write_bundle, bundle_zip_bytes

    entries = [Entry(entry_id="0f…(32 hex)", district="350203", prefs=("P001", "P007"), weight=1), …]
    rnd = round_for(committed_at=now, min_gap_seconds=600)               # earliest admissible round
    c = commit(draw_id="xm-2020-02-05", campaign="厦门口罩", committed_at=now, entries=entries,
               quotas={"P001": 300, "P007": 120}, beacon_round=rnd, min_gap_seconds=600,
               notary_digits_min=6)                                      # publish c.manifest_json now
    # … later, once drand round ``rnd`` exists and the notary has drawn digits on camera:
    r = draw(commitment=c, randomness_round=rnd, signature=sig_bytes, notary_digits="402917")
    r.winners()            # {entry_id: outlet}
    r.leftover             # {outlet: units not taken} -> next round's supply
    write_bundle(folder, commitment=c, result=r)   # or bundle_zip_bytes(commitment=c, result=r)
    inclusion_proof(commitment=c, entry_id=…)      # JSON-able dict for ``allot-verify --entry --proof``

Errors are :class:`DrawError` with a stable ``.code`` (``wrong_round``, ``notary_digits``,
``randomness_mismatch``, ``beacon_timing``, ``duplicate_entry``, ``bad_*`` …).

Also: :func:`allot.lottery.rfc3797.select` (IETF RFC 3797 public selection),
:func:`allot.lottery.apportion.apportion` (largest-remainder supply split) and
:func:`allot.lottery.fairness.fairness_report` (DV-2012 detector, win rates per outlet and district).
"""

from allot.lottery.engine import (
    QUICKNET,
    SYNTHETIC,
    Beacon,
    BeaconRound,
    Commitment,
    DrawResult,
    Entry,
    EntryTable,
    ResultRow,
    bundle_zip_bytes,
    commit,
    draw,
    inclusion_proof,
    inclusion_proof_json,
    load_commitment,
    round_for,
    write_bundle,
)
from allot.lottery.verify import DrawError, VerificationFailed, check_inclusion_proof, verify_bundle

__all__ = [
    "QUICKNET",
    "SYNTHETIC",
    "Beacon",
    "BeaconRound",
    "Commitment",
    "DrawError",
    "DrawResult",
    "Entry",
    "EntryTable",
    "ResultRow",
    "VerificationFailed",
    "bundle_zip_bytes",
    "check_inclusion_proof",
    "commit",
    "draw",
    "inclusion_proof",
    "inclusion_proof_json",
    "load_commitment",
    "round_for",
    "verify_bundle",
    "write_bundle",
]
