"""Independent reference computations for the golden-vector tests.

Written straight from docs/draw-spec.md with struct, hashlib and hmac, without the engine's optimised
code paths (no chunking, no precomputed HMAC pads, recursive Merkle tree).
"""

from __future__ import annotations

import hashlib
import hmac
import struct


def ref_lp(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def ref_leaf(draw_id: str, entry_id: str, district: str, prefs: list[str], weight: int) -> bytes:
    out = ref_lp(b"allot-draw/v1/leaf") + ref_lp(draw_id.encode()) + ref_lp(entry_id.encode())
    out += ref_lp(district.encode()) + struct.pack(">I", len(prefs))
    for p in prefs:
        out += ref_lp(p.encode())
    return out + struct.pack(">I", weight)


def ref_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, recursively, over raw leaf data."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_seed(manifest_hash: bytes, round_no: int, randomness: bytes, digits: str) -> bytes:
    return hashlib.sha256(
        ref_lp(b"allot-draw/v1/seed")
        + ref_lp(manifest_hash)
        + struct.pack(">Q", round_no)
        + ref_lp(randomness)
        + ref_lp(digits.encode())
    ).digest()


def ref_key(seed: bytes, entry_id: str, weight: int) -> int:
    return min(
        int.from_bytes(
            hmac.new(
                seed,
                ref_lp(b"allot-draw/v1/ticket") + ref_lp(entry_id.encode()) + struct.pack(">I", j),
                hashlib.sha256,
            ).digest(),
            "big",
        )
        for j in range(weight)
    )


def ref_allocate(
    entries: list[tuple[str, list[str], int]], keys: dict[str, int], quotas: dict[str, int]
) -> list[tuple[str, str]]:
    """(entry_id, outlet) in priority order by serial dictatorship."""
    left = dict(quotas)
    out = []
    for entry_id, prefs, _w in sorted(entries, key=lambda e: (keys[e[0]], e[0])):
        got = ""
        for p in prefs:
            if left.get(p, 0) > 0:
                left[p] -= 1
                got = p
                break
        out.append((entry_id, got))
    return out
