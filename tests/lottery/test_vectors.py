"""Golden vectors for every step of allot-draw/v1, each recomputed independently (see reference.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from pathlib import Path

import pytest

from allot.lottery import verify as spec
from allot.lottery.rfc3797 import key_string, select

from .builders import COMMITTED_AT, DIGITS, SIGNATURE, make_draw, small_entries
from .reference import ref_allocate, ref_key, ref_leaf, ref_mth, ref_seed

GOLDEN = json.loads((Path(__file__).parent / "vectors" / "golden.json").read_text())


def test_rfc3797_example_from_the_rfc() -> None:
    sources = ["9319", "2 5 12 8 10", "9 18 26 34 41 45"]
    assert key_string(sources) == b"9319./2.5.8.10.12./9.18.26.34.41.45./"
    assert select(pool=25, count=11, sources=sources) == [17, 7, 2, 16, 25, 23, 8, 24, 19, 13, 22]


def test_leaf_bytes_match_hand_built_bytes_and_golden() -> None:
    v = GOLDEN["leaf"]
    by_hand = (
        b"\x00\x00\x00\x12allot-draw/v1/leaf"
        + b"\x00\x00\x00\x0dxm-2025-03-01"
        + b"\x00\x00\x00\x2000112233445566778899aabbccddeeff"
        + b"\x00\x00\x00\x06350203"
        + b"\x00\x00\x00\x02"
        + b"\x00\x00\x00\x04P001"
        + b"\x00\x00\x00\x04P007"
        + b"\x00\x00\x00\x03"
    )
    leaf = spec.leaf_bytes(
        draw_id=v["draw_id"],
        entry_id=v["entry_id"],
        district=v["district"],
        prefs=v["prefs"],
        weight=v["weight"],
    )
    assert leaf == by_hand == bytes.fromhex(v["leaf_hex"])
    assert leaf == ref_leaf(v["draw_id"], v["entry_id"], v["district"], v["prefs"], v["weight"])


def test_group_leaf_tail_equals_the_leaf_suffix() -> None:
    g = spec.make_group("350203", ["P001", "P007"], 3)
    leaf = ref_leaf("d", "00112233445566778899aabbccddeeff", "350203", ["P001", "P007"], 3)
    assert leaf.endswith(g.leaf_tail)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8])
def test_merkle_root_golden(n: int) -> None:
    leaves = [b"leaf-%d" % i for i in range(n)]
    expected = GOLDEN["merkle"][str(n)]
    assert ref_mth(leaves).hex() == expected
    assert spec.merkle_root(spec.leaf_hash(x) for x in leaves).hex() == expected


def test_merkle_empty_tree_is_hash_of_empty_string() -> None:
    assert GOLDEN["merkle"]["0"] == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 100, 257])
def test_streaming_merkle_matches_recursive_definition(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec.MerkleAccumulator, "CHUNK", 4)  # exercise the chunked stack path
    leaves = [b"x%d" % i for i in range(n)]
    acc = spec.MerkleAccumulator()
    for i in range(0, n, 3):
        acc.extend(spec.leaf_hash(x) for x in leaves[i : i + 3])
    assert acc.root() == ref_mth(leaves)


def test_inclusion_proof_for_every_index_of_a_37_leaf_tree() -> None:
    leaves = [b"entry-%d" % i for i in range(37)]
    hashes = [spec.leaf_hash(x) for x in leaves]
    root = ref_mth(leaves)
    for i in range(37):
        path = spec.audit_path(hashes, i)
        assert spec.root_from_inclusion(hashes[i], i, 37, path) == root
        # the same path must not prove another position or another leaf
        assert spec.root_from_inclusion(hashes[i], (i + 1) & 31, 37, path) != root
        assert spec.root_from_inclusion(hashes[(i + 5) & 31], i, 37, path) != root
        if path:
            assert spec.root_from_inclusion(hashes[i], i, 37, path[:-1]) != root


def test_seed_golden() -> None:
    v = GOLDEN["seed"]
    mh, rnd = bytes.fromhex(v["manifest_hash"]), bytes.fromhex(v["randomness"])
    assert rnd == hashlib.sha256(SIGNATURE).digest()
    by_hand = hashlib.sha256(
        b"\x00\x00\x00\x12allot-draw/v1/seed"
        + b"\x00\x00\x00\x20"
        + mh
        + struct.pack(">Q", 1000)
        + b"\x00\x00\x00\x20"
        + rnd
        + b"\x00\x00\x00\x06402917"
    ).hexdigest()
    assert by_hand == v["seed"] == ref_seed(mh, 1000, rnd, "402917").hex()
    assert (
        spec.seed_bytes(manifest_hash=mh, round_no=1000, randomness=rnd, notary_digits="402917").hex()
        == by_hand
    )


def test_ticket_keys_golden() -> None:
    seed = bytes.fromhex(GOLDEN["seed"]["seed"])
    for v in GOLDEN["keys"]:
        tickets = [
            hmac.new(
                seed,
                b"\x00\x00\x00\x14allot-draw/v1/ticket\x00\x00\x00\x20"
                + v["entry_id"].encode()
                + struct.pack(">I", j),
                "sha256",
            ).digest()
            for j in range(v["weight"])
        ]
        assert min(tickets).hex() == v["key"] == "{:064x}".format(ref_key(seed, v["entry_id"], v["weight"]))
        g = spec.make_group("350203", ["P1"], v["weight"])
        pool = spec.Pool("d", v["entry_id"].encode(), spec.array("I", [0]), [g])
        assert spec.compute_keys(pool, seed).hex() == v["key"]


def test_manifest_bytes_are_the_canonical_json_of_the_spec_fields() -> None:
    c, _ = make_draw()
    m = c.manifest
    expected = {
        "spec": "allot-draw/v1",
        "draw_id": "xm-test",
        "campaign": "厦门口罩 test",
        "committed_at": "2025-03-01T01:00:00Z",
        "entries": 12,
        "entries_sha256": hashlib.sha256(c.entries_jsonl).hexdigest(),
        "merkle_root": m["merkle_root"],
        "quotas": {"P001": 2, "P002": 3, "P003": 1},
        "beacon": {
            "kind": "drand",
            "chain_hash": spec.QUICKNET_CHAIN_HASH,
            "genesis_time": 1692803367,
            "period": 3,
            "round": m["beacon"]["round"],
        },
        "min_gap_seconds": 60,
        "notary_digits_min": 6,
    }
    by_hand = json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert c.manifest_json == by_hand
    assert hashlib.sha256(c.manifest_json).hexdigest() == GOLDEN["draw"]["manifest_sha256"]
    assert 1692803367 + (m["beacon"]["round"] - 1) * 3 >= int(COMMITTED_AT.timestamp()) + 60


def test_entries_jsonl_lines_are_canonical_and_sorted() -> None:
    c, _ = make_draw()
    lines = c.entries_jsonl.split(b"\n")
    assert lines.pop() == b""
    objs = [json.loads(x) for x in lines]
    assert [o["entry_id"] for o in objs] == sorted(e.entry_id for e in small_entries())
    for line, o in zip(lines, objs, strict=True):
        assert line == json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_draw_golden_root_seed_and_allocation() -> None:
    c, r = make_draw()
    g = GOLDEN["draw"]
    assert c.merkle_root.hex() == g["merkle_root"]
    assert (
        r.seed.hex()
        == g["seed"]
        == ref_seed(c.manifest_hash, c.beacon_round, hashlib.sha256(SIGNATURE).digest(), DIGITS).hex()
    )
    keys = {e.entry_id: ref_key(r.seed, e.entry_id, e.weight) for e in small_entries()}
    expected = ref_allocate(
        [(e.entry_id, list(e.prefs), e.weight) for e in small_entries()],
        keys,
        {"P001": 2, "P002": 3, "P003": 1},
    )
    assert [[row.entry_id, row.outlet] for row in r.rows()] == [list(x) for x in expected] == g["allocation"]
    assert [int(row.key, 16) for row in r.rows()] == sorted(keys.values())


def test_results_csv_format() -> None:
    _, r = make_draw()
    text = r.results_csv.decode()
    assert text.startswith("rank,entry_id,key,outlet\n") and text.endswith("\n") and "\r" not in text
    rows = [line.split(",") for line in text.splitlines()[1:]]
    assert [int(x[0]) for x in rows] == list(range(1, 13))
    assert all(len(x[2]) == 64 and x[2] == x[2].lower() for x in rows)


def test_reveal_json_is_canonical() -> None:
    _, r = make_draw()
    obj = json.loads(r.reveal_json)
    assert obj == {
        "beacon": {
            "round": r.round,
            "randomness": hashlib.sha256(SIGNATURE).hexdigest(),
            "signature": SIGNATURE.hex(),
        },
        "notary_digits": DIGITS,
        "seed": r.seed.hex(),
    }
    assert r.reveal_json == json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def test_numpy_and_pure_python_orders_are_identical() -> None:
    keys = bytearray()
    for i in range(500):
        k = hashlib.sha256(b"%d" % (i // 3)).digest()  # runs of equal keys: ties broken by index
        keys += k[:8] + (hashlib.sha256(b"%d" % i).digest()[8:] if i % 2 else k[8:])
    pure = spec.priority_order(keys, use_numpy=False)
    assert pure == sorted(range(500), key=lambda i: (bytes(keys[32 * i : 32 * i + 32]), i))
    assert spec.priority_order(keys) == pure
