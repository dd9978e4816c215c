"""Statistical checks with fixed seeds: the order is uniform and weights work as specified.

Each test also shows it can fail: the same counts must reject a wrong hypothesis.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from itertools import combinations

from allot.lottery import EntryTable
from allot.lottery import verify as spec
from allot.lottery.fairness import chi2_sf

ALPHA = 0.001


def pool_of(weights: list[int]) -> spec.Pool:
    ids = [hashlib.sha256(b"stat-%d" % i).hexdigest()[:32] for i in range(len(weights))]
    kinds = sorted(set(weights))
    t = EntryTable.from_columns(
        entry_ids=ids,
        group_of=[kinds.index(w) for w in weights],
        groups=[("350203", ("A",), w) for w in kinds],
    )
    return spec.Pool("stat", t.ids, t.group_of, t.groups)


def winners(pool: spec.Pool, seed: bytes, q: int) -> list[int]:
    return spec.priority_order(spec.compute_keys(pool, seed))[:q]


def seed(tag: bytes, i: int) -> bytes:
    return hashlib.sha256(tag + b"-%d" % i).digest()


def test_equal_weights_give_equal_win_probability() -> None:
    n, q, draws = 1000, 100, 300
    pool = pool_of([1] * n)
    wins = Counter()
    for i in range(draws):
        wins.update(pool.entry_id(k) for k in winners(pool, seed(b"eq", i), q))
    p = q / n
    expected = draws * p
    stat = sum((wins[pool.entry_id(k)] - expected) ** 2 for k in range(n)) / (draws * p * (1 - p))
    assert chi2_sf(stat * (n - 1) / n, n - 1) > ALPHA
    # power: the same counts do not fit "entrant 0..99 win twice as often as the rest"
    skew = [2 * expected / 1.1 if k < 100 else expected / 1.1 for k in range(n)]
    ids = [pool.entry_id(k) for k in range(n)]
    stat_wrong = sum((wins[ids[k]] - skew[k]) ** 2 / skew[k] for k in range(n))
    assert chi2_sf(stat_wrong, n - 1) < ALPHA


def test_subsets_of_three_from_ten_are_uniform_over_120_cells() -> None:
    pool = pool_of([1] * 10)
    draws = 120 * 40
    cells = Counter(tuple(sorted(winners(pool, seed(b"sub", i), 3))) for i in range(draws))
    assert len(list(combinations(range(10), 3))) == 120
    expected = draws / 120
    stat = sum((cells[c] - expected) ** 2 / expected for c in combinations(range(10), 3))
    assert len(cells) == 120
    assert chi2_sf(stat, 119) > ALPHA


def test_weights_one_two_three_with_one_winner_give_sixths() -> None:
    pool = pool_of([1, 2, 3])
    weight_of = {pool.entry_id(k): pool.groups[pool.group_of[k]].weight for k in range(3)}
    draws = 6000
    counts = Counter(weight_of[pool.entry_id(winners(pool, seed(b"w", i), 1)[0])] for i in range(draws))
    expected = {1: draws / 6, 2: draws / 3, 3: draws / 2}
    stat = sum((counts[w] - e) ** 2 / e for w, e in expected.items())
    assert chi2_sf(stat, 2) > ALPHA
    uniform = sum((counts[w] - draws / 3) ** 2 / (draws / 3) for w in (1, 2, 3))
    assert chi2_sf(uniform, 2) < ALPHA  # weights are not ignored


def test_chi2_sf_known_critical_values() -> None:
    for x, df, p in ((3.841, 1, 0.05), (13.816, 2, 0.001), (18.307, 10, 0.05), (124.342, 100, 0.05)):
        assert abs(chi2_sf(x, df) - p) < p * 0.01
