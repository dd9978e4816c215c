"""Human-friendly random codes: no 0/O/1/I, easy to read aloud, from ``secrets``."""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: 5 bits each


def random_code(length: int) -> str:
    """``length`` symbols of 5 bits each from one ``secrets.token_bytes`` call (a ``secrets.choice`` per symbol
    cost a system call each: measurable on the first-come claim path, which draws two codes)."""
    raw = secrets.token_bytes(length)
    return "".join([ALPHABET[b & 31] for b in raw])


def normalize_code(raw: str) -> str:
    """Upper-case, drop spaces and hyphens, accept full-width characters."""
    import unicodedata

    text = unicodedata.normalize("NFKC", raw or "").upper()
    return "".join(ch for ch in text if ch.isalnum())


def group(code: str, size: int = 5) -> str:
    return "-".join(code[i:i + size] for i in range(0, len(code), size))
