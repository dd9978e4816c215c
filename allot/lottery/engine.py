"""The allot-draw/v1 engine: commit to the entries, draw from a beacon round, publish the bundle.

Every byte-level rule lives in :mod:`allot.lottery.verify` and is imported from there, so the draw and
the standalone verifier cannot drift apart.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import zipfile
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from allot.lottery.verify import (
    BEACON_KINDS,
    BUNDLE_FILES,
    PROOF_FORMAT,
    QUICKNET_CHAIN_HASH,
    QUICKNET_GENESIS_TIME,
    QUICKNET_PERIOD,
    SPEC,
    SYNTHETIC_CHAIN_HASH,
    DrawError,
    Group,
    Pool,
    allocate,
    audit_path,
    canonical_json,
    check_beacon_timing,
    check_code,
    check_entry_fields,
    check_inclusion_proof,
    check_manifest,
    compute_keys,
    format_time,
    make_group,
    parse_canonical_json,
    parse_entries,
    pool_jsonl_and_root,
    priority_order,
    randomness_of,
    results_chunks,
    reveal_bytes,
    round_time,
    seed_bytes,
)

__all__ = [
    "QUICKNET",
    "Beacon",
    "BeaconRound",
    "Commitment",
    "DrawError",
    "DrawResult",
    "Entry",
    "EntryTable",
    "ResultRow",
    "bundle_zip_bytes",
    "check_inclusion_proof",
    "commit",
    "draw",
    "inclusion_proof",
    "load_commitment",
    "round_for",
    "write_bundle",
]


@dataclass(frozen=True, slots=True)
class Entry:
    """One entrant of one draw. Validated on construction (``DrawError`` with a stable code)."""

    entry_id: str
    district: str
    prefs: tuple[str, ...]
    weight: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.prefs, tuple):
            object.__setattr__(self, "prefs", tuple(self.prefs))
        check_entry_fields(self.entry_id, self.district, self.prefs, self.weight)


@dataclass(frozen=True, slots=True)
class Beacon:
    """A randomness beacon chain: drand (public) or synthetic (simulations and local demos only)."""

    kind: str
    chain_hash: str
    genesis_time: int
    period: int

    def __post_init__(self) -> None:
        if self.kind not in BEACON_KINDS:
            raise DrawError("bad_beacon", f"beacon kind must be one of {BEACON_KINDS}")
        if self.period < 1 or self.genesis_time < 0:
            raise DrawError("bad_beacon", "beacon period must be >= 1 and genesis_time >= 0")

    def time_of(self, round_no: int) -> int:
        """Unix time at which round ``round_no`` is produced."""
        return round_time(genesis_time=self.genesis_time, period=self.period, round_no=round_no)


#: The default public beacon: drand quicknet.
QUICKNET = Beacon("drand", QUICKNET_CHAIN_HASH, QUICKNET_GENESIS_TIME, QUICKNET_PERIOD)
#: The synthetic beacon used by ``simulate`` and the demo's local fallback.
SYNTHETIC = Beacon("synthetic", SYNTHETIC_CHAIN_HASH, QUICKNET_GENESIS_TIME, QUICKNET_PERIOD)


@dataclass(frozen=True, slots=True)
class BeaconRound:
    """One published beacon round. For drand (and synthetic) ``randomness == sha256(signature)``."""

    round: int
    signature: bytes

    @property
    def randomness(self) -> bytes:
        return randomness_of(self.signature)


class EntryTable:
    """Entries column-wise, sorted by entry_id: what ``commit`` works on (compact for millions).

    Build it with :meth:`from_entries`, or with :meth:`from_columns` when entries never existed as objects.
    """

    __slots__ = ("group_of", "groups", "ids")

    def __init__(self, ids: bytes, group_of: array, groups: list[Group]) -> None:
        self.ids, self.group_of, self.groups = ids, group_of, groups

    def __len__(self) -> int:
        return len(self.group_of)

    @classmethod
    def from_entries(cls, entries: Iterable[Entry]) -> EntryTable:
        """Group and sort ``entries``; raises ``DrawError("duplicate_entry")`` on a repeated entry_id."""
        index: dict[tuple[str, tuple[str, ...], int], int] = {}
        groups: list[Group] = []
        ids: list[str] = []
        group_of = array("I")
        for e in entries:
            if not isinstance(e, Entry):
                raise DrawError("bad_entry", "entries must be Entry objects")
            key = (e.district, e.prefs, e.weight)
            g = index.get(key)
            if g is None:
                g = index[key] = len(groups)
                groups.append(make_group(e.district, e.prefs, e.weight))
            ids.append(e.entry_id)
            group_of.append(g)
        return cls._sorted(ids, group_of, groups)

    @classmethod
    def from_columns(
        cls,
        *,
        entry_ids: Sequence[str],
        group_of: Sequence[int],
        groups: Sequence[tuple[str, Sequence[str], int]],
    ) -> EntryTable:
        """``groups[k] = (district, prefs, weight)``; entry ``i`` has ``groups[group_of[i]]``."""
        built = []
        for district, prefs, weight in groups:
            check_entry_fields("0" * 32, district, tuple(prefs), weight)
            built.append(make_group(district, prefs, weight))
        if len(entry_ids) != len(group_of):
            raise DrawError("bad_entry", "entry_ids and group_of differ in length")
        gof = array("I", group_of)
        if gof and max(gof) >= len(built):
            raise DrawError("bad_entry", "group_of points past groups")
        return cls._sorted(entry_ids, gof, built)

    @classmethod
    def _sorted(cls, ids: Sequence[str], group_of: array, groups: list[Group]) -> EntryTable:
        from allot.lottery.verify import ENTRY_ID_RE

        for eid in ids:
            if not isinstance(eid, str) or not ENTRY_ID_RE.fullmatch(eid):
                raise DrawError("bad_entry_id", f"entry_id {eid!r} is not 32 lowercase hex characters")
        ordered = all(a < b for a, b in itertools.pairwise(ids))
        if not ordered:
            perm = sorted(range(len(ids)), key=ids.__getitem__)
            ids = [ids[i] for i in perm]
            group_of = array("I", (group_of[i] for i in perm))
            for a, b in itertools.pairwise(ids):
                if a == b:
                    raise DrawError("duplicate_entry", f"entry_id {a} appears twice")
        packed = "".join(ids).encode("ascii")
        return cls(packed, group_of, groups)


@dataclass(frozen=True)
class Commitment:
    """What is published before the beacon round exists: ``manifest.json`` and ``entries.jsonl``."""

    manifest: dict[str, Any]
    manifest_json: bytes
    entries_jsonl: bytes
    merkle_root: bytes
    manifest_hash: bytes
    pool: Pool = field(repr=False)

    @property
    def draw_id(self) -> str:
        return str(self.manifest["draw_id"])

    @property
    def beacon(self) -> Beacon:
        b = self.manifest["beacon"]
        return Beacon(b["kind"], b["chain_hash"], b["genesis_time"], b["period"])

    @property
    def beacon_round(self) -> int:
        return int(self.manifest["beacon"]["round"])

    @property
    def beacon_time(self) -> datetime:
        """When the committed round is produced (aware, UTC)."""
        return datetime.fromtimestamp(self.beacon.time_of(self.beacon_round), tz=UTC)


@dataclass(frozen=True, slots=True)
class ResultRow:
    rank: int
    entry_id: str
    key: str
    outlet: str  # "" when the entrant got nothing


@dataclass(frozen=True)
class DrawResult:
    """The reveal and the outcome. Rows are produced lazily (a draw may hold millions)."""

    commitment: Commitment
    round: int
    signature: bytes
    randomness: bytes
    notary_digits: str
    seed: bytes
    reveal_json: bytes
    leftover: dict[str, int]
    _keys: bytearray = field(repr=False)
    _order: list[int] = field(repr=False)
    _outlets: list[str] = field(repr=False)

    def __len__(self) -> int:
        return len(self._order)

    def rows(self) -> Iterator[ResultRow]:
        """Every entry in priority order."""
        pool, keys = self.commitment.pool, self._keys
        for rank, (idx, outlet) in enumerate(zip(self._order, self._outlets, strict=True), start=1):
            yield ResultRow(rank, pool.entry_id(idx), keys[32 * idx : 32 * idx + 32].hex(), outlet)

    def winners(self) -> dict[str, str]:
        """entry_id -> outlet for every entrant who got a unit."""
        pool = self.commitment.pool
        return {pool.entry_id(i): o for i, o in zip(self._order, self._outlets, strict=True) if o}

    def results_chunks(self) -> Iterator[bytes]:
        return results_chunks(self.commitment.pool, self._keys, self._order, self._outlets)

    @property
    def results_csv(self) -> bytes:
        return b"".join(self.results_chunks())


def round_for(*, committed_at: datetime, min_gap_seconds: int, beacon: Beacon = QUICKNET) -> int:
    """The earliest beacon round produced at least ``min_gap_seconds`` (and > 0 s) after ``committed_at``."""
    if min_gap_seconds < 0:
        raise DrawError("bad_min_gap", "min_gap_seconds must be >= 0")
    at = _epoch(committed_at)
    earliest = at + max(min_gap_seconds, 1)
    if earliest <= beacon.genesis_time:
        return 1
    # ceil((earliest - genesis) / period) + 1, in integers without modulo
    return -((beacon.genesis_time - earliest) // beacon.period) + 1


def _epoch(dt: datetime) -> int:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise DrawError("naive_datetime", "committed_at must be an aware datetime")
    if dt.microsecond:
        raise DrawError("bad_time", "committed_at must be whole seconds (the manifest has no fractions)")
    return int(dt.timestamp())


def commit(
    *,
    draw_id: str,
    campaign: str,
    committed_at: datetime,
    entries: Iterable[Entry] | EntryTable,
    quotas: Mapping[str, int],
    beacon_round: int,
    min_gap_seconds: int,
    notary_digits_min: int,
    beacon_kind: str = "drand",
    chain_hash: str | None = None,
    genesis_time: int = QUICKNET_GENESIS_TIME,
    period: int = QUICKNET_PERIOD,
) -> Commitment:
    """Build ``manifest.json`` and ``entries.jsonl`` (spec steps 1-3).

    Raises ``DrawError`` with code ``bad_*``, ``duplicate_entry``, ``naive_datetime`` or ``beacon_timing``
    (the round is not at least ``min_gap_seconds`` after ``committed_at``; use :func:`round_for`).
    """
    check_code(draw_id, "draw_id")
    if chain_hash is None:
        chain_hash = SYNTHETIC_CHAIN_HASH if beacon_kind == "synthetic" else QUICKNET_CHAIN_HASH
    beacon = Beacon(beacon_kind, chain_hash, genesis_time, period)
    _epoch(committed_at)
    table = entries if isinstance(entries, EntryTable) else EntryTable.from_entries(entries)
    for outlet, units in quotas.items():
        check_code(outlet, "outlet")
        if isinstance(units, bool) or not isinstance(units, int) or units < 0:
            raise DrawError("bad_quota", f"quota of {outlet} must be a non-negative integer")
    pool = Pool(draw_id, table.ids, table.group_of, table.groups)
    buf = io.BytesIO()
    root = pool_jsonl_and_root(pool, buf.write)
    jsonl = buf.getvalue()
    del buf
    import unicodedata

    manifest: dict[str, Any] = {
        "spec": SPEC,
        "draw_id": draw_id,
        "campaign": unicodedata.normalize("NFC", campaign),
        "committed_at": format_time(committed_at),
        "entries": len(pool),
        "entries_sha256": hashlib.sha256(jsonl).hexdigest(),
        "merkle_root": root.hex(),
        "quotas": dict(quotas),
        "beacon": {
            "kind": beacon.kind,
            "chain_hash": beacon.chain_hash,
            "genesis_time": beacon.genesis_time,
            "period": beacon.period,
            "round": beacon_round,
        },
        "min_gap_seconds": min_gap_seconds,
        "notary_digits_min": notary_digits_min,
    }
    check_manifest(manifest)
    check_beacon_timing(manifest)
    manifest_json = canonical_json(manifest)
    return Commitment(manifest, manifest_json, jsonl, root, hashlib.sha256(manifest_json).digest(), pool)


def load_commitment(*, manifest_json: bytes, entries_jsonl: bytes) -> Commitment:
    """Rebuild a ``Commitment`` from its two published files (e.g. read back from storage)."""
    from allot.lottery.verify import VerificationFailed

    try:
        manifest = parse_canonical_json(manifest_json, "manifest.json", "manifest")
        check_manifest(manifest)
        pool, sha, root = parse_entries(io.BytesIO(entries_jsonl), manifest["draw_id"])
    except VerificationFailed as exc:
        raise DrawError(exc.code, exc.message) from None
    if (
        sha.hex() != manifest["entries_sha256"]
        or root.hex() != manifest["merkle_root"]
        or len(pool) != manifest["entries"]
    ):
        raise DrawError("commitment_mismatch", "entries.jsonl does not match manifest.json")
    return Commitment(
        manifest, manifest_json, entries_jsonl, root, hashlib.sha256(manifest_json).digest(), pool
    )


def draw(
    *,
    commitment: Commitment,
    randomness_round: int,
    signature: bytes,
    notary_digits: str,
    randomness: bytes | None = None,
) -> DrawResult:
    """Run the draw (spec steps 4-6).

    Raises ``DrawError`` with code ``wrong_round`` (not the committed round), ``notary_digits`` (not
    enough decimal digits) or ``randomness_mismatch`` (a supplied ``randomness`` is not sha256(signature)).
    """
    committed = commitment.beacon_round
    if randomness_round != committed:
        raise DrawError("wrong_round", f"the commitment names round {committed}, not {randomness_round}")
    minimum = commitment.manifest["notary_digits_min"]
    if (
        not isinstance(notary_digits, str)
        or not notary_digits.isascii()
        or not notary_digits.isdigit()
        or len(notary_digits) < minimum
    ):
        raise DrawError("notary_digits", f"notary digits must be at least {minimum} decimal digits 0-9")
    computed = randomness_of(signature)
    if randomness is not None and randomness != computed:
        raise DrawError("randomness_mismatch", "randomness is not sha256(signature) for this round")
    seed = seed_bytes(
        manifest_hash=commitment.manifest_hash,
        round_no=committed,
        randomness=computed,
        notary_digits=notary_digits,
    )
    pool = commitment.pool
    keys = compute_keys(pool, seed)
    order = priority_order(keys)
    outlets, leftover = allocate(pool, order, commitment.manifest["quotas"])
    reveal = reveal_bytes(
        round_no=committed, randomness=computed, signature=signature, notary_digits=notary_digits, seed=seed
    )
    return DrawResult(
        commitment,
        committed,
        signature,
        computed,
        notary_digits,
        seed,
        reveal,
        leftover,
        keys,
        order,
        outlets,
    )


def write_bundle(directory: str | Path, *, commitment: Commitment, result: DrawResult) -> Path:
    """Write the four bundle files into ``directory`` (created if needed); returns the folder."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_bytes(commitment.manifest_json)
    (out / "entries.jsonl").write_bytes(commitment.entries_jsonl)
    (out / "reveal.json").write_bytes(result.reveal_json)
    with open(out / "results.csv", "wb") as f:
        for chunk in result.results_chunks():
            f.write(chunk)
    return out


def bundle_zip_bytes(*, commitment: Commitment, result: DrawResult) -> bytes:
    """The bundle as a zip (files under ``<draw_id>/``), deterministic bytes for a given draw."""
    buf = io.BytesIO()
    stamp = (1980, 1, 1, 0, 0, 0)
    files = {
        "manifest.json": commitment.manifest_json,
        "entries.jsonl": commitment.entries_jsonl,
        "reveal.json": result.reveal_json,
    }
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in BUNDLE_FILES:
            info = zipfile.ZipInfo(f"{commitment.draw_id}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with z.open(info, "w") as f:
                if name == "results.csv":
                    for chunk in result.results_chunks():
                        f.write(chunk)
                else:
                    f.write(files[name])
    return buf.getvalue()


def inclusion_proof(*, commitment: Commitment, entry_id: str) -> dict[str, Any]:
    """The RFC 6962 audit path of ``entry_id`` as a proof object (format in docs/draw-spec.md)."""
    pool = commitment.pool
    i = pool.index_of(entry_id)
    if i < 0:
        raise DrawError("unknown_entry", f"entry {entry_id} is not in draw {commitment.draw_id}")
    g = pool.groups[pool.group_of[i]]
    path = audit_path(pool.leaf_hashes(), i)
    return {
        "format": PROOF_FORMAT,
        "draw_id": commitment.draw_id,
        "merkle_root": commitment.merkle_root.hex(),
        "tree_size": len(pool),
        "leaf_index": i,
        "entry": {"district": g.district, "entry_id": entry_id, "prefs": list(g.prefs), "weight": g.weight},
        "audit_path": [h.hex() for h in path],
    }


def inclusion_proof_json(*, commitment: Commitment, entry_id: str) -> bytes:
    """:func:`inclusion_proof` as canonical JSON bytes (what ``allot-verify --proof`` reads)."""
    return canonical_json(inclusion_proof(commitment=commitment, entry_id=entry_id))
