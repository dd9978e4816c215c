"""Split tomorrow's supply across outlets in proportion to today's demand (largest remainder, Hamilton).

Supply proportional to demand, together with entrants who accept any outlet in their district, is what
removes "罩区房": without it, living next to a well-stocked pharmacy is itself a prize.
"""

from __future__ import annotations

from collections.abc import Mapping

from allot.lottery.verify import DrawError, check_code


def apportion(*, total_units: int, demand_by_outlet: Mapping[str, int]) -> dict[str, int]:
    """Largest-remainder apportionment of ``total_units`` by ``demand_by_outlet`` (integers only).

    Each outlet first gets ``floor(total * demand / D)``; the units still unassigned go one each to the
    outlets with the largest remainders ``total * demand - floor(...) * D``. Ties in remainder go to the
    larger demand, then to the smaller outlet code (plain string order). The result sums to
    ``total_units`` exactly. Raises ``DrawError("no_demand")`` when every demand is zero.
    """
    if isinstance(total_units, bool) or not isinstance(total_units, int) or total_units < 0:
        raise DrawError("bad_total", "total_units must be a non-negative integer")
    for outlet, d in demand_by_outlet.items():
        check_code(outlet, "outlet")
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise DrawError("bad_demand", f"demand of {outlet} must be a non-negative integer")
    total_demand = sum(demand_by_outlet.values())
    if total_demand == 0:
        raise DrawError("no_demand", "no outlet has any demand to apportion by")
    shares: dict[str, int] = {}
    remainders: list[tuple[int, int, str]] = []
    for outlet, d in demand_by_outlet.items():
        whole, rest = divmod(total_units * d, total_demand)
        shares[outlet] = whole
        remainders.append((-rest, -d, outlet))
    remainders.sort()
    for _, _, outlet in remainders[: total_units - sum(shares.values())]:
        shares[outlet] += 1
    return shares
