"""RFC 3797 (IETF "Publicly Verifiable Nominations Committee Random Selection").

For small public draws, e.g. picking which registrations a notary checks against identity records. This is
the RFC's method exactly (MD5 and a remainder, as the RFC specifies); it is not the allot-draw/v1 path.

Key string: each source's numbers sorted ascending, each followed by ``.``, each source followed by
``/``. Selection ``i`` (from 0) hashes ``u16(i) || key || u16(i)`` with MD5, takes the 128-bit value
modulo the number of candidates left, and removes that candidate (1-based positions, order kept).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from allot.lottery.verify import DrawError

_NUMBERS = re.compile(r"[0-9]+(?:[\s,]+[0-9]+)*")


def key_string(sources: Sequence[str]) -> bytes:
    """The RFC 3797 §4 key built from numeric sources ("9319", "2 5 12 8 10", ...)."""
    if not sources:
        raise DrawError("rfc3797_sources", "at least one source is needed")
    parts = []
    for src in sources:
        s = src.strip()
        if not _NUMBERS.fullmatch(s):
            raise DrawError("rfc3797_sources", f"source {src!r} must be decimal numbers separated by spaces")
        nums = sorted(int(x) for x in re.split(r"[\s,]+", s))
        parts.append("".join(f"{n}." for n in nums) + "/")
    return "".join(parts).encode("ascii")


def select(*, pool: int, count: int, sources: Sequence[str]) -> list[int]:
    """Select ``count`` distinct 1-based positions out of ``pool`` as RFC 3797 does."""
    if pool < 1 or not 0 <= count <= pool or pool > 0xFFFF or count > 0xFFFF:
        raise DrawError("rfc3797_size", "need 1 <= pool <= 65535 and 0 <= count <= pool")
    key = key_string(sources)
    remaining = list(range(1, pool + 1))
    chosen = []
    for i in range(count):
        prefix = i.to_bytes(2, "big")
        digest = hashlib.md5(prefix + key + prefix, usedforsecurity=False).digest()
        k = divmod(int.from_bytes(digest, "big"), len(remaining))[1]
        chosen.append(remaining.pop(k))
    return chosen
