#!/usr/bin/env python3
"""allot-draw/v1: the spec primitives and the standalone verifier.

This one file is the reference for the byte-level rules of ``docs/draw-spec.md``. The engine modules
(``allot.lottery.engine``) import every primitive from here, so the code that draws and the code that
checks a draw are the same code. It must stay runnable on its own, copied out of the repository::

    python3 verify.py BUNDLE [--entry ENTRY_ID --proof PROOF.json] [--bls]

BUNDLE is a folder or a ``.zip`` holding ``manifest.json``, ``entries.jsonl``, ``reveal.json`` and
``results.csv``. Exit status: 0 and one summary line when every check holds; 1 and ``FAIL <check>: ...``
naming the first check that failed; 2 for a usage problem (bad arguments, ``--bls`` without ``py_ecc``).

Standard library only (Python 3.11). ``numpy``, when importable, only speeds up sorting: the pure-Python
path produces the identical order. ``--bls`` needs the optional ``py_ecc`` package.

Integer arithmetic only in the draw path: no floats, no modulo, no ``random`` module.
"""

from __future__ import annotations

import argparse
import binascii
import hashlib
import json
import re
import struct
import sys
import unicodedata
import zipfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

SPEC = "allot-draw/v1"
TAG_LEAF = b"allot-draw/v1/leaf"
TAG_SEED = b"allot-draw/v1/seed"
TAG_TICKET = b"allot-draw/v1/ticket"

#: drand quicknet (League of Entropy mainnet, unchained, G1 signatures, 3 s period).
QUICKNET_CHAIN_HASH = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
QUICKNET_GENESIS_TIME = 1692803367
QUICKNET_PERIOD = 3
QUICKNET_SCHEME = "bls-unchained-g1-rfc9380"
QUICKNET_PUBLIC_KEY_HEX = (
    "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec"
    "758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a"
)
QUICKNET_DST = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
#: A synthetic beacon (simulations, local demo fallback) names this chain hash; it is no public source.
SYNTHETIC_CHAIN_HASH = hashlib.sha256(b"allot-draw/v1/synthetic-beacon").hexdigest()
BEACON_KINDS = ("drand", "synthetic")

BUNDLE_FILES = ("manifest.json", "entries.jsonl", "reveal.json", "results.csv")
RESULTS_HEADER = b"rank,entry_id,key,outlet\n"
PROOF_FORMAT = "allot-draw/v1/inclusion-proof"

#: Implementation limits of v1 (part of validation, see the spec).
MAX_WEIGHT = 1000
MAX_PREFS = 1000
MAX_CODE_LEN = 64

CODE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
ENTRY_ID_RE = re.compile(r"[0-9a-f]{32}")
DISTRICT_RE = re.compile(r"[0-9]{6}")
HEX64_RE = re.compile(r"[0-9a-f]{64}")
HEX_RE = re.compile(r"(?:[0-9a-f]{2})+")
DIGITS_RE = re.compile(r"[0-9]+")
TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")

_HASH = hashlib.sha256
_EMPTY_ROOT = hashlib.sha256(b"").digest()


class DrawError(Exception):
    """A draw rule said no. ``code`` is a stable machine string; the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class VerificationFailed(DrawError):
    """A bundle check failed; ``code`` names the check (see ``CHECKS``)."""


#: The verifier's checks, in the order they run. A failure names one of these.
CHECKS = (
    "bundle_files",
    "manifest",
    "beacon_timing",
    "entries_format",
    "entries_order",
    "entries_sha256",
    "entries_count",
    "merkle_root",
    "reveal",
    "beacon_round",
    "beacon_randomness",
    "notary_digits",
    "seed",
    "results",
    "bls",
    "proof",
)


# --------------------------------------------------------------------------------------------------------
# Encoding


def u32(n: int) -> bytes:
    """Unsigned 32-bit big-endian."""
    return struct.pack(">I", n)


def u64(n: int) -> bytes:
    """Unsigned 64-bit big-endian."""
    return struct.pack(">Q", n)


def lp(b: bytes) -> bytes:
    """Length-prefixed bytes: ``u32(len(b)) || b``."""
    return struct.pack(">I", len(b)) + b


def text(s: str) -> bytes:
    """UTF-8 of the NFC normal form."""
    return unicodedata.normalize("NFC", s).encode("utf-8")


def _reject_non_integers(obj: object, where: str = "$") -> None:
    if isinstance(obj, bool) or obj is None or isinstance(obj, float):
        raise DrawError("canonical_json", f"{where}: only strings, integers, lists and objects are allowed")
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise DrawError("canonical_json", f"{where}: object keys must be strings")
            _reject_non_integers(v, f"{where}.{k}")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _reject_non_integers(v, f"{where}[{i}]")
    elif isinstance(obj, str):
        if unicodedata.normalize("NFC", obj) != obj:
            raise DrawError("canonical_json", f"{where}: text must be in NFC")
    elif not isinstance(obj, int):
        raise DrawError("canonical_json", f"{where}: unsupported type {type(obj).__name__}")


def canonical_json(obj: object) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8, integers only, NFC text."""
    _reject_non_integers(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_canonical_json(data: bytes, what: str, code: str) -> Any:
    """Parse ``data`` and insist it is exactly its canonical form."""
    try:
        obj = json.loads(data.decode("utf-8"), parse_float=_no_float, parse_constant=_no_float)
        again = canonical_json(obj)
    except (UnicodeDecodeError, ValueError, DrawError) as exc:
        raise VerificationFailed(code, f"{what} is not canonical JSON ({exc})") from None
    if again != data:
        raise VerificationFailed(code, f"{what} is not in canonical form")
    return obj


def _no_float(value: str) -> Any:
    raise ValueError(f"non-integer number {value}")


def format_time(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of an aware datetime, in UTC, whole seconds."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise DrawError("naive_datetime", "committed_at must be an aware datetime")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str) -> int:
    """Seconds since the epoch of a ``YYYY-MM-DDTHH:MM:SSZ`` string."""
    if not TIME_RE.fullmatch(s):
        raise DrawError("bad_time", f"{s!r} is not YYYY-MM-DDTHH:MM:SSZ")
    try:
        dt = datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise DrawError("bad_time", f"{s!r} is not a valid UTC time") from None
    return int(dt.timestamp())


# --------------------------------------------------------------------------------------------------------
# Entries and leaves


def check_entry_fields(entry_id: str, district: str, prefs: Sequence[str], weight: int) -> None:
    """Raise ``DrawError`` unless the four fields are valid for allot-draw/v1."""
    if not isinstance(entry_id, str) or not ENTRY_ID_RE.fullmatch(entry_id):
        raise DrawError("bad_entry_id", f"entry_id {entry_id!r} is not 32 lowercase hex characters")
    if not isinstance(district, str) or not DISTRICT_RE.fullmatch(district):
        raise DrawError("bad_district", f"district {district!r} of {entry_id} is not a 6-digit code")
    if not prefs or len(prefs) > MAX_PREFS:
        raise DrawError("bad_prefs", f"prefs of {entry_id} must hold 1..{MAX_PREFS} outlet codes")
    for p in prefs:
        if not isinstance(p, str) or not CODE_RE.fullmatch(p):
            raise DrawError("bad_prefs", f"outlet code {p!r} of {entry_id} must match [A-Za-z0-9_.-]{{1,64}}")
    if len(set(prefs)) != len(prefs):
        raise DrawError("bad_prefs", f"prefs of {entry_id} repeat an outlet")
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
        raise DrawError("bad_weight", f"weight of {entry_id} must be an integer in 1..{MAX_WEIGHT}")


def check_code(value: str, what: str) -> None:
    if not isinstance(value, str) or not CODE_RE.fullmatch(value):
        raise DrawError(f"bad_{what}", f"{what} {value!r} must match [A-Za-z0-9_.-]{{1,64}}")


def leaf_bytes(*, draw_id: str, entry_id: str, district: str, prefs: Sequence[str], weight: int) -> bytes:
    """The leaf of one entry (spec step 2)."""
    out = [lp(TAG_LEAF), lp(text(draw_id)), lp(text(entry_id)), lp(text(district)), u32(len(prefs))]
    out.extend(lp(text(p)) for p in prefs)
    out.append(u32(weight))
    return b"".join(out)


def entry_json_line(*, entry_id: str, district: str, prefs: Sequence[str], weight: int) -> bytes:
    """One line of ``entries.jsonl``: canonical JSON plus ``\\n``."""
    obj = {"district": district, "entry_id": entry_id, "prefs": list(prefs), "weight": weight}
    return canonical_json(obj) + b"\n"


class Group(NamedTuple):
    """What entries can share: district, prefs and weight, with their precomputed byte pieces."""

    district: str
    prefs: tuple[str, ...]
    weight: int
    leaf_tail: bytes  # lp(district) || u32(n) || lp(p1) .. lp(pn) || u32(weight)
    json_head: bytes  # {"district":"DDDDDD","entry_id":"
    json_tail: bytes  # ","prefs":[...],"weight":W}\n


def make_group(district: str, prefs: Sequence[str], weight: int) -> Group:
    prefs = tuple(prefs)
    tail = [lp(district.encode()), u32(len(prefs))]
    tail.extend(lp(p.encode()) for p in prefs)
    tail.append(u32(weight))
    line = entry_json_line(entry_id="0" * 32, district=district, prefs=prefs, weight=weight)
    head, _, rest = line.partition(b"0" * 32)
    return Group(district, prefs, weight, b"".join(tail), head, rest)


@dataclass
class Pool:
    """The committed entries, column-wise and sorted by entry_id (compact for millions of entries).

    ``ids`` packs each entry_id's 32 ASCII hex bytes back to back; ``group_of[i]`` indexes ``groups``.
    """

    draw_id: str
    ids: bytes
    group_of: array
    groups: list[Group]

    def __len__(self) -> int:
        return len(self.group_of)

    def entry_id(self, i: int) -> str:
        return self.ids[32 * i : 32 * i + 32].decode()

    def index_of(self, entry_id: str) -> int:
        """Binary search for ``entry_id``; -1 when absent."""
        target = entry_id.encode()
        lo, hi = 0, len(self)
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.ids[32 * mid : 32 * mid + 32] < target:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self) and self.ids[32 * lo : 32 * lo + 32] == target:
            return lo
        return -1

    def leaf(self, i: int) -> bytes:
        g = self.groups[self.group_of[i]]
        return leaf_bytes(
            draw_id=self.draw_id,
            entry_id=self.entry_id(i),
            district=g.district,
            prefs=g.prefs,
            weight=g.weight,
        )

    def leaf_hashes(self) -> list[bytes]:
        return list(_iter_leaf_hashes(self))


def _leaf_prefix(draw_id: str) -> bytes:
    return b"\x00" + lp(TAG_LEAF) + lp(text(draw_id)) + u32(32)


def _iter_leaf_hashes(pool: Pool) -> Iterator[bytes]:
    prefix, ids, tails = _leaf_prefix(pool.draw_id), pool.ids, [g.leaf_tail for g in pool.groups]
    for off, g in zip(range(0, 32 * len(pool), 32), pool.group_of, strict=True):
        yield _HASH(prefix + ids[off : off + 32] + tails[g]).digest()


def pool_jsonl_and_root(pool: Pool, sink: Callable[[bytes], Any] | None = None) -> bytes:
    """Serialise ``entries.jsonl`` into ``sink`` chunk by chunk and return the Merkle root."""
    prefix, ids = _leaf_prefix(pool.draw_id), pool.ids
    tails = [g.leaf_tail for g in pool.groups]
    heads = [g.json_head for g in pool.groups]
    jtails = [g.json_tail for g in pool.groups]
    acc = MerkleAccumulator()
    n, step = len(pool), MerkleAccumulator.CHUNK
    group_of = pool.group_of
    for start in range(0, n, step):
        stop = min(n, start + step)
        hashes = []
        pieces: list[bytes] = []
        for off, g in zip(range(32 * start, 32 * stop, 32), group_of[start:stop], strict=True):
            eid = ids[off : off + 32]
            hashes.append(_HASH(prefix + eid + tails[g]).digest())
            pieces += (heads[g], eid, jtails[g])
        acc.extend(hashes)
        if sink is not None:
            sink(b"".join(pieces))
    return acc.root()


# --------------------------------------------------------------------------------------------------------
# RFC 6962 Merkle tree


def leaf_hash(leaf: bytes) -> bytes:
    return _HASH(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _HASH(b"\x01" + left + right).digest()


def subtree_root(hashes: Sequence[bytes]) -> bytes:
    """RFC 6962 MTH over leaf hashes: pairing level by level, an odd last node moves up unchanged.

    This is the same tree as the spec's recursive split at the largest power of two below n.
    """
    if not hashes:
        return _EMPTY_ROOT
    level = list(hashes)
    sha = _HASH
    while len(level) > 1:
        nxt = [sha(b"\x01" + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


class MerkleAccumulator:
    """Streams leaf hashes into an RFC 6962 root with memory O(CHUNK + log n)."""

    CHUNK = 1 << 14

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._stack: list[tuple[int, bytes]] = []

    def extend(self, hashes: Iterable[bytes]) -> None:
        p = self._pending
        p.extend(hashes)
        size = self.CHUNK
        if len(p) >= size:
            full = len(p) - (len(p) & (size - 1))
            for s in range(0, full, size):
                self._push(subtree_root(p[s : s + size]), size)
            del p[:full]

    def _push(self, h: bytes, size: int) -> None:
        st = self._stack
        while st and st[-1][0] == size:
            _, left = st.pop()
            h = node_hash(left, h)
            size <<= 1
        st.append((size, h))

    def root(self) -> bytes:
        parts = [h for _, h in self._stack]
        if self._pending:
            parts.append(subtree_root(self._pending))
        if not parts:
            return _EMPTY_ROOT
        acc = parts[-1]
        for h in reversed(parts[:-1]):
            acc = node_hash(h, acc)
        return acc


def merkle_root(leaf_hashes: Iterable[bytes]) -> bytes:
    acc = MerkleAccumulator()
    acc.extend(leaf_hashes)
    return acc.root()


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def audit_path(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n]) for leaf ``index``, leaf side first."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise DrawError("bad_index", f"leaf index {index} outside a tree of {n}")
    path: list[bytes] = []
    lo, hi, m = 0, n, index
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if m < k:
            path.append(subtree_root(leaf_hashes[lo + k : hi]))
            hi = lo + k
        else:
            path.append(subtree_root(leaf_hashes[lo : lo + k]))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def root_from_inclusion(leaf_h: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root an audit path leads to, or None when the path is malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf_h
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def check_inclusion_proof(
    proof: Mapping[str, Any], *, merkle_root_hex: str, tree_size: int, draw_id: str
) -> None:
    """Raise ``DrawError("proof", ...)`` unless ``proof`` puts its entry in the committed tree."""
    try:
        if proof["format"] != PROOF_FORMAT:
            raise DrawError("proof", f"format must be {PROOF_FORMAT!r}")
        e = proof["entry"]
        check_entry_fields(e["entry_id"], e["district"], e["prefs"], e["weight"])
        index, size = proof["leaf_index"], proof["tree_size"]
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        claimed_draw, claimed_root = proof["draw_id"], proof["merkle_root"]
    except (KeyError, TypeError, ValueError) as exc:
        raise DrawError("proof", f"malformed proof ({exc!r})") from None
    if claimed_draw != draw_id or claimed_root != merkle_root_hex or size != tree_size:
        raise DrawError("proof", "proof is for another draw, root or tree size")
    leaf = leaf_bytes(
        draw_id=draw_id, entry_id=e["entry_id"], district=e["district"], prefs=e["prefs"], weight=e["weight"]
    )
    got = root_from_inclusion(leaf_hash(leaf), index, size, path)
    if got is None or got.hex() != merkle_root_hex:
        raise DrawError("proof", "audit path does not lead to the committed Merkle root")


# --------------------------------------------------------------------------------------------------------
# Beacon, seed, tickets, order, allocation


def round_time(*, genesis_time: int, period: int, round_no: int) -> int:
    """Unix time at which beacon round ``round_no`` is produced."""
    return genesis_time + (round_no - 1) * period


def randomness_of(signature: bytes) -> bytes:
    """drand (and synthetic) rounds: ``randomness = H(signature)``."""
    return _HASH(signature).digest()


def seed_bytes(*, manifest_hash: bytes, round_no: int, randomness: bytes, notary_digits: str) -> bytes:
    """Spec step 4."""
    return _HASH(
        lp(TAG_SEED) + lp(manifest_hash) + u64(round_no) + lp(randomness) + lp(notary_digits.encode("ascii"))
    ).digest()


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 inner/outer states after the padded key block (RFC 2104, done by hand)."""
    if len(key) > 64:
        key = _HASH(key).digest()
    block = key.ljust(64, b"\x00")
    return _HASH(block.translate(_IPAD)), _HASH(block.translate(_OPAD))


def ticket(seed: bytes, entry_id: str, j: int) -> bytes:
    """One ticket: ``HMAC-SHA256(seed, lp(tag) || lp(entry_id) || u32(j))`` (reference form)."""
    import hmac

    return hmac.new(seed, lp(TAG_TICKET) + lp(text(entry_id)) + u32(j), "sha256").digest()


def compute_keys(pool: Pool, seed: bytes) -> bytearray:
    """The 32-byte key of every entry, in pool order, packed. Equal to ``min(ticket(...) for j)``.

    A big-endian fixed-width byte string compares exactly like the integer it encodes, so the minimum
    over bytes is the minimum over integers.
    """
    inner, outer = _hmac_pads(seed)
    inner.update(lp(TAG_TICKET))
    ids, weights = pool.ids, [g.weight for g in pool.groups]
    maxw = max(weights, default=1)
    js = [u32(j) for j in range(maxw)]
    lp32, j0 = u32(32), js[0]
    out = bytearray()
    for off, g in zip(range(0, 32 * len(pool), 32), pool.group_of, strict=True):
        w = weights[g]
        if w == 1:
            c = inner.copy()
            c.update(lp32 + ids[off : off + 32] + j0)
            o = outer.copy()
            o.update(c.digest())
            out += o.digest()
        else:
            base = inner.copy()
            base.update(lp32 + ids[off : off + 32])
            best = b"\xff" * 33
            for j in range(w):
                c = base.copy()
                c.update(js[j])
                o = outer.copy()
                o.update(c.digest())
                d = o.digest()
                if d < best:
                    best = d
            out += best
    return out


def priority_order(keys: bytes | bytearray, *, use_numpy: bool | None = None) -> list[int]:
    """Pool indices ordered by ascending ``(key, entry_id)``.

    The pool is sorted by entry_id, so a stable sort on the key alone breaks ties by entry_id. With numpy
    the first 8 key bytes are sorted as big-endian integers and any run sharing them is re-sorted on the
    full key, which gives exactly the order of the pure-Python sort.
    """
    n = len(keys) >> 5
    np = _numpy() if use_numpy is not False else None
    if np is None:
        kb = keys
        return sorted(range(n), key=lambda i: kb[32 * i : 32 * i + 32])
    if n == 0:
        return []
    head = np.frombuffer(keys, dtype=">u8").reshape(n, 4)[:, 0].astype(np.uint64)
    order = np.argsort(head, kind="stable")
    sh = head[order]
    dups = np.flatnonzero(sh[1:] == sh[:-1]).tolist()
    result: list[int] = order.tolist()
    i = 0
    while i < len(dups):
        start, end = dups[i], dups[i] + 2
        i += 1
        while i < len(dups) and dups[i] == end - 1:
            end += 1
            i += 1
        run = sorted(result[start:end])
        run.sort(key=lambda k: keys[32 * k : 32 * k + 32])
        result[start:end] = run
    return result


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - depends on the machine
        return None
    return numpy


def allocate(pool: Pool, order: Sequence[int], quotas: Mapping[str, int]) -> tuple[list[str], dict[str, int]]:
    """Random serial dictatorship (spec step 6): the outlet of each ranked entry ("" for none), leftover."""
    left = dict(quotas)
    remaining = sum(v for v in left.values() if v > 0)
    prefs_of = [g.prefs for g in pool.groups]
    group_of = pool.group_of
    outlets: list[str] = []
    append = outlets.append
    for idx in order:
        if remaining == 0:
            append("")
            continue
        got = ""
        for p in prefs_of[group_of[idx]]:
            if left.get(p, 0) > 0:
                left[p] -= 1
                remaining -= 1
                got = p
                break
        append(got)
    return outlets, left


def results_chunks(
    pool: Pool,
    keys: bytes | bytearray,
    order: Sequence[int],
    outlets: Sequence[str],
    chunk_rows: int = 1 << 15,
) -> Iterator[bytes]:
    """``results.csv`` in chunks: header, then ``rank,entry_id,key,outlet`` in priority order."""
    yield RESULTS_HEADER
    ids, hexlify, kb = pool.ids, binascii.hexlify, keys
    enc = {o: o.encode() for o in set(outlets)}
    n = len(order)
    for start in range(0, n, chunk_rows):
        stop = min(n, start + chunk_rows)
        rows = []
        for rank, idx, outlet in zip(
            range(start + 1, stop + 1), order[start:stop], outlets[start:stop], strict=True
        ):
            off = 32 * idx
            rows.append(
                b"%d,%s,%s,%s\n" % (rank, ids[off : off + 32], hexlify(kb[off : off + 32]), enc[outlet])
            )
        yield b"".join(rows)


def reveal_bytes(
    *, round_no: int, randomness: bytes, signature: bytes, notary_digits: str, seed: bytes
) -> bytes:
    return canonical_json(
        {
            "beacon": {"randomness": randomness.hex(), "round": round_no, "signature": signature.hex()},
            "notary_digits": notary_digits,
            "seed": seed.hex(),
        }
    )


# --------------------------------------------------------------------------------------------------------
# Manifest


def check_manifest(m: Any) -> None:
    """Raise ``DrawError`` unless ``m`` is a well-formed allot-draw/v1 manifest object."""
    keys = {
        "spec",
        "draw_id",
        "campaign",
        "committed_at",
        "entries",
        "entries_sha256",
        "merkle_root",
        "quotas",
        "beacon",
        "min_gap_seconds",
        "notary_digits_min",
    }
    if not isinstance(m, dict) or set(m) != keys:
        raise DrawError("manifest", f"manifest must have exactly the keys {sorted(keys)}")
    if m["spec"] != SPEC:
        raise DrawError("manifest", f"spec must be {SPEC!r}")
    check_code(m["draw_id"], "draw_id")
    if not isinstance(m["campaign"], str) or not m["campaign"]:
        raise DrawError("manifest", "campaign must be non-empty text")
    if not isinstance(m["committed_at"], str):
        raise DrawError("manifest", "committed_at must be text")
    parse_time(m["committed_at"])
    for k in ("entries", "min_gap_seconds", "notary_digits_min"):
        if not isinstance(m[k], int) or m[k] < 0:
            raise DrawError("manifest", f"{k} must be a non-negative integer")
    if m["notary_digits_min"] < 1:
        raise DrawError("manifest", "notary_digits_min must be at least 1")
    for k in ("entries_sha256", "merkle_root"):
        if not isinstance(m[k], str) or not HEX64_RE.fullmatch(m[k]):
            raise DrawError("manifest", f"{k} must be 64 lowercase hex characters")
    q = m["quotas"]
    if not isinstance(q, dict):
        raise DrawError("manifest", "quotas must be an object")
    for outlet, units in q.items():
        check_code(outlet, "outlet")
        if not isinstance(units, int) or units < 0:
            raise DrawError("manifest", f"quota of {outlet} must be a non-negative integer")
    b = m["beacon"]
    if not isinstance(b, dict) or set(b) != {"kind", "chain_hash", "genesis_time", "period", "round"}:
        raise DrawError("manifest", "beacon must have kind, chain_hash, genesis_time, period, round")
    if b["kind"] not in BEACON_KINDS:
        raise DrawError("manifest", f"beacon kind must be one of {BEACON_KINDS}")
    if not isinstance(b["chain_hash"], str) or not HEX64_RE.fullmatch(b["chain_hash"]):
        raise DrawError("manifest", "beacon chain_hash must be 64 lowercase hex characters")
    if b["kind"] == "synthetic" and b["chain_hash"] != SYNTHETIC_CHAIN_HASH:
        raise DrawError("manifest", "a synthetic beacon must name the synthetic chain hash")
    if b["kind"] == "drand" and b["chain_hash"] == SYNTHETIC_CHAIN_HASH:
        raise DrawError("manifest", "a drand beacon cannot name the synthetic chain hash")
    for k in ("genesis_time", "period", "round"):
        if not isinstance(b[k], int) or b[k] < (0 if k == "genesis_time" else 1):
            raise DrawError("manifest", f"beacon {k} must be a positive integer")
    if b["round"] >= 1 << 64:
        raise DrawError("manifest", "beacon round must fit in u64")


def check_beacon_timing(m: Mapping[str, Any]) -> None:
    """The committed round must be produced at least ``min_gap_seconds`` (and > 0 s) after commitment."""
    b = m["beacon"]
    at = round_time(genesis_time=b["genesis_time"], period=b["period"], round_no=b["round"])
    committed = parse_time(m["committed_at"])
    gap = at - committed
    if gap <= 0 or gap < m["min_gap_seconds"]:
        raise DrawError(
            "beacon_timing",
            f"round {b['round']} is produced {gap} s after commitment; "
            f"needs > 0 and >= {m['min_gap_seconds']} s",
        )


# --------------------------------------------------------------------------------------------------------
# Bundle reading and the verifier

_LINE_RE = re.compile(rb'\{"district":"([0-9]{6})","entry_id":"([0-9a-f]{32})"(,"prefs":.*)\}')
_READ = 1 << 24


class Bundle:
    """Read-only access to a bundle folder or zip file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        if self.path.is_dir():
            names = {p.name for p in self.path.iterdir() if p.is_file()}
        elif zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
            all_names = [n for n in self._zip.namelist() if not n.endswith("/")]
            tops = {n.rsplit("/", 1)[0] + "/" if "/" in n else "" for n in all_names}
            if len(tops) == 1:
                self._prefix = tops.pop()
            names = {n[len(self._prefix) :] for n in all_names if n.startswith(self._prefix)}
        else:
            raise VerificationFailed("bundle_files", f"{path} is neither a folder nor a zip file")
        missing = [f for f in BUNDLE_FILES if f not in names]
        if missing:
            raise VerificationFailed("bundle_files", f"missing {', '.join(missing)}")

    def open(self, name: str) -> IO[bytes]:
        if self._zip is not None:
            return self._zip.open(self._prefix + name)
        return open(self.path / name, "rb")

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def parse_entries(stream: IO[bytes], draw_id: str) -> tuple[Pool, bytes, bytes]:
    """Parse ``entries.jsonl`` (strictly canonical, strictly sorted) into a pool.

    Returns ``(pool, sha256 of the file, Merkle root)``. Raises ``VerificationFailed`` with code
    ``entries_format`` or ``entries_order``.
    """
    file_hash = _HASH()
    ids = bytearray()
    group_of = array("I")
    groups: list[Group] = []
    group_index: dict[tuple[bytes, bytes], int] = {}
    prefix = _leaf_prefix(draw_id)
    acc = MerkleAccumulator()
    prev = b""
    lineno = 0
    rest = b""
    tails: list[bytes] = []
    match = _LINE_RE.fullmatch
    while True:
        chunk = stream.read(_READ)
        if not chunk:
            break
        file_hash.update(chunk)
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        lines = data[:cut].split(b"\n")
        lines.pop()
        hashes = []
        for line in lines:
            lineno += 1
            mo = match(line)
            if mo is None:
                raise VerificationFailed("entries_format", f"entries.jsonl line {lineno} is not canonical")
            district, eid, tail = mo.group(1, 2, 3)
            if eid <= prev:
                raise VerificationFailed(
                    "entries_order",
                    f"entries.jsonl line {lineno}: entry_id "
                    f"{'repeats' if eid == prev else 'is out of order'} (duplicated or unsorted leaf)",
                )
            prev = eid
            key = (district, tail)
            g = group_index.get(key)
            if g is None:
                g = group_index[key] = len(groups)
                groups.append(_parse_group(district, tail, lineno))
                tails.append(groups[-1].leaf_tail)
            ids += eid
            group_of.append(g)
            hashes.append(_HASH(prefix + eid + tails[g]).digest())
        acc.extend(hashes)
    if rest:
        raise VerificationFailed("entries_format", "entries.jsonl does not end with a newline")
    return Pool(draw_id, bytes(ids), group_of, groups), file_hash.digest(), acc.root()


def _parse_group(district: bytes, tail: bytes, lineno: int) -> Group:
    try:
        obj = json.loads(b"{" + tail[1:] + b"}", parse_float=_no_float, parse_constant=_no_float)
        if not isinstance(obj, dict) or set(obj) != {"prefs", "weight"} or not isinstance(obj["prefs"], list):
            raise ValueError("keys must be district, entry_id, prefs, weight")
        check_entry_fields("0" * 32, district.decode(), obj["prefs"], obj["weight"])
    except (ValueError, DrawError) as exc:
        raise VerificationFailed("entries_format", f"entries.jsonl line {lineno}: {exc}") from None
    g = make_group(district.decode(), obj["prefs"], obj["weight"])
    if g.json_tail != b'"' + tail + b"}\n":
        raise VerificationFailed("entries_format", f"entries.jsonl line {lineno} is not canonical")
    return g


@dataclass
class Verified:
    """What a successful verification established."""

    manifest: dict[str, Any]
    reveal: dict[str, Any]
    pool: Pool
    order: list[int]
    outlets: list[str]
    leftover: dict[str, int]
    bls_checked: bool
    proof_entry: str | None

    def summary(self) -> str:
        m, b = self.manifest, self.manifest["beacon"]
        won = sum(1 for o in self.outlets if o)
        left = sum(v for v in self.leftover.values() if v > 0)
        if b["kind"] == "synthetic":
            src = (
                f"SYNTHETIC beacon round {b['round']} (local test value, NOT a public randomness "
                "source: this draw proves nothing about fairness)"
            )
        else:
            chain = "quicknet" if b["chain_hash"] == QUICKNET_CHAIN_HASH else f"chain {b['chain_hash'][:12]}"
            src = f"drand {chain} round {b['round']}, " + (
                "BLS signature checked" if self.bls_checked else "BLS signature not checked (use --bls)"
            )
        extra = ""
        if self.proof_entry is not None:
            i = self.pool.index_of(self.proof_entry)
            rank = self.order.index(i)
            extra = (
                f"; entry {self.proof_entry} proven in the committed pool, rank {rank + 1}, "
                f"outlet {self.outlets[rank] or '(none)'}"
            )
        return (
            f"OK {SPEC} draw {m['draw_id']}: {len(self.pool)} entries, merkle root {m['merkle_root']}, "
            f"{src}, notary digits {self.reveal['notary_digits']}, {won} allocated, {left} units left "
            f"over{extra}"
        )


def verify_bundle(
    path: str | Path, *, entry: str | None = None, proof: Mapping[str, Any] | None = None, bls: bool = False
) -> Verified:
    """Run every check in ``CHECKS`` order; raise ``VerificationFailed`` at the first that fails."""
    bundle = Bundle(path)
    try:
        return _verify(bundle, entry=entry, proof=proof, bls=bls)
    finally:
        bundle.close()


def _fail(code: str, exc: DrawError) -> VerificationFailed:
    return VerificationFailed(code, exc.message)


def _verify(bundle: Bundle, *, entry: str | None, proof: Mapping[str, Any] | None, bls: bool) -> Verified:
    manifest_raw = bundle.read("manifest.json")
    m = parse_canonical_json(manifest_raw, "manifest.json", "manifest")
    try:
        check_manifest(m)
    except DrawError as exc:
        raise _fail("manifest", exc) from None
    try:
        check_beacon_timing(m)
    except DrawError as exc:
        raise _fail("beacon_timing", exc) from None

    with bundle.open("entries.jsonl") as f:
        pool, file_sha, root = parse_entries(f, m["draw_id"])
    if file_sha.hex() != m["entries_sha256"]:
        raise VerificationFailed("entries_sha256", "sha256 of entries.jsonl differs from the manifest")
    if len(pool) != m["entries"]:
        raise VerificationFailed(
            "entries_count", f"entries.jsonl has {len(pool)} entries, manifest says {m['entries']}"
        )
    if root.hex() != m["merkle_root"]:
        raise VerificationFailed("merkle_root", "Merkle root of entries.jsonl differs from the manifest")

    r = parse_canonical_json(bundle.read("reveal.json"), "reveal.json", "reveal")
    try:
        randomness, signature, digits, seed = _check_reveal_shape(r)
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationFailed("reveal", f"reveal.json is malformed ({exc!r})") from None
    if r["beacon"]["round"] != m["beacon"]["round"]:
        raise VerificationFailed(
            "beacon_round",
            f"reveal has round {r['beacon']['round']}, manifest committed round {m['beacon']['round']}",
        )
    if randomness_of(signature) != randomness:
        raise VerificationFailed("beacon_randomness", "randomness is not sha256(signature)")
    if not DIGITS_RE.fullmatch(digits) or len(digits) < m["notary_digits_min"]:
        raise VerificationFailed(
            "notary_digits", f"notary digits must be >= {m['notary_digits_min']} decimal digits"
        )
    expect_seed = seed_bytes(
        manifest_hash=_HASH(manifest_raw).digest(),
        round_no=m["beacon"]["round"],
        randomness=randomness,
        notary_digits=digits,
    )
    if expect_seed != seed:
        raise VerificationFailed("seed", "seed does not follow from manifest, beacon round and notary digits")

    keys = compute_keys(pool, seed)
    order = priority_order(keys)
    outlets, leftover = allocate(pool, order, m["quotas"])
    with bundle.open("results.csv") as f:
        _compare_results(f, results_chunks(pool, keys, order, outlets))

    if bls:
        if m["beacon"]["kind"] != "drand" or m["beacon"]["chain_hash"] != QUICKNET_CHAIN_HASH:
            raise VerificationFailed("bls", "--bls checks drand quicknet rounds only")
        if not bls_verify_quicknet(round_no=m["beacon"]["round"], signature=signature):
            raise VerificationFailed("bls", "signature is not a valid quicknet BLS signature of this round")

    if entry is not None:
        if proof is None:
            raise VerificationFailed("proof", "--entry needs --proof")
        claimed = proof.get("entry")
        if not isinstance(claimed, dict) or claimed.get("entry_id") != entry:
            raise VerificationFailed("proof", f"proof is not for entry {entry}")
        try:
            check_inclusion_proof(
                proof, merkle_root_hex=m["merkle_root"], tree_size=m["entries"], draw_id=m["draw_id"]
            )
        except DrawError as exc:
            raise _fail("proof", exc) from None
    return Verified(m, r, pool, order, outlets, leftover, bls, entry)


def _check_reveal_shape(r: Any) -> tuple[bytes, bytes, str, bytes]:
    if set(r) != {"beacon", "notary_digits", "seed"} or set(r["beacon"]) != {
        "randomness",
        "round",
        "signature",
    }:
        raise ValueError("reveal.json must hold beacon{randomness,round,signature}, notary_digits, seed")
    b = r["beacon"]
    for k in ("randomness",):
        if not HEX64_RE.fullmatch(b[k]):
            raise ValueError(f"beacon {k} must be 64 lowercase hex characters")
    if not HEX_RE.fullmatch(b["signature"]):
        raise ValueError("beacon signature must be lowercase hex")
    if not HEX64_RE.fullmatch(r["seed"]):
        raise ValueError("seed must be 64 lowercase hex characters")
    if not isinstance(b["round"], int) or not isinstance(r["notary_digits"], str):
        raise ValueError("round must be an integer and notary_digits text")
    return (
        bytes.fromhex(b["randomness"]),
        bytes.fromhex(b["signature"]),
        r["notary_digits"],
        bytes.fromhex(r["seed"]),
    )


def _compare_results(f: IO[bytes], expected: Iterable[bytes]) -> None:
    offset = 0
    lines = 0
    for chunk in expected:
        got = f.read(len(chunk))
        if got != chunk:
            i = 0
            n = min(len(got), len(chunk))
            while i < n and got[i] == chunk[i]:
                i += 1
            row = lines + chunk.count(b"\n", 0, i)
            where = "the header" if row == 0 else f"row {row} (rank {row})"
            raise VerificationFailed("results", f"results.csv differs from the recomputed draw at {where}")
        offset += len(chunk)
        lines += chunk.count(b"\n")
    if f.read(1):
        raise VerificationFailed("results", "results.csv has extra bytes after the last row")


# --------------------------------------------------------------------------------------------------------
# Optional BLS check (py_ecc)


class BlsUnavailable(Exception):
    """``py_ecc`` is not installed."""


def bls_verify_quicknet(
    *, round_no: int, signature: bytes, public_key_hex: str = QUICKNET_PUBLIC_KEY_HEX
) -> bool:
    """Check a quicknet-style signature: G1 signature of ``sha256(u64(round))``, G2 public key."""
    try:
        from py_ecc.bls.hash_to_curve import hash_to_G1
        from py_ecc.bls.point_compression import decompress_G1, decompress_G2
        from py_ecc.optimized_bls12_381 import FQ12, G2, curve_order, is_inf, multiply, neg, pairing
    except ImportError as exc:
        raise BlsUnavailable("--bls needs the optional py_ecc package (pip install py_ecc)") from exc
    if len(signature) != 48:
        return False
    try:
        pk_raw = bytes.fromhex(public_key_hex)
        pk_ints: Any = (int.from_bytes(pk_raw[:48], "big"), int.from_bytes(pk_raw[48:], "big"))
        sig_int: Any = int.from_bytes(signature, "big")
        pk = decompress_G2(pk_ints)
        sig = decompress_G1(sig_int)
    except ValueError:
        return False
    if not is_inf(multiply(sig, curve_order)):
        return False
    sha: Any = hashlib.sha256
    hm = hash_to_G1(_HASH(u64(round_no)).digest(), QUICKNET_DST, sha)
    return bool(pairing(G2, neg(sig)) * pairing(pk, hm) == FQ12.one())


# --------------------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="allot-verify", description="Verify an allot-draw/v1 bundle.")
    parser.add_argument("bundle", help="bundle folder or .zip")
    parser.add_argument("--entry", help="entry_id whose inclusion proof to check")
    parser.add_argument("--proof", help="inclusion proof JSON file for --entry")
    parser.add_argument("--bls", action="store_true", help="also check the drand BLS signature (py_ecc)")
    args = parser.parse_args(argv)
    if (args.entry is None) != (args.proof is None):
        print("usage error: --entry and --proof go together", file=sys.stderr)
        return 2
    if args.bls:
        try:
            import py_ecc  # noqa: F401
        except ImportError:
            print(
                "--bls needs the optional py_ecc package (pip install py_ecc); nothing verified",
                file=sys.stderr,
            )
            return 2
    proof = None
    if args.proof is not None:
        try:
            proof = json.loads(Path(args.proof).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"FAIL proof: cannot read {args.proof} ({exc})")
            return 1
        if not isinstance(proof, dict):
            print("FAIL proof: proof file must hold a JSON object")
            return 1
    try:
        result = verify_bundle(args.bundle, entry=args.entry, proof=proof, bls=args.bls)
    except VerificationFailed as exc:
        print(f"FAIL {exc.code}: {exc.message}")
        return 1
    except (OSError, zipfile.BadZipFile) as exc:
        print(f"FAIL bundle_files: {exc}")
        return 1
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
