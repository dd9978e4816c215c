"""What the serving processes set up for themselves once they are loaded (config/wsgi.py, and so config/asgi.py)."""

from __future__ import annotations

import gc

from django.core.exceptions import ImproperlyConfigured


def gc_tune(thresholds: str) -> tuple[int, int, int] | None:
    """Freeze what start-up loaded and set the garbage collector's thresholds to ``thresholds`` ("50000,20,100";
    "" leaves Python's defaults). Returns the thresholds set.

    Why: a first-come claim allocates thousands of short-lived objects (a request's dicts, model instances, rows),
    so with Python's young-generation threshold of 700 a server process ran a collection every few claims, each
    also walking the objects start-up left (Django, the URL patterns, the gazetteer). Frozen, those are never
    walked again; at 50,000 the young generation is collected ~70× less often. bench/surge.py's calibration on
    PostgreSQL + Redis: +1–7 % claims a second in six pairs of runs against Python's defaults (ADR 0012)."""
    text = thresholds.strip()
    if not text:
        return None
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise ImproperlyConfigured(
            f"ALLOT_GC_THRESHOLDS must be three whole numbers above 0, like 50000,20,100 (got {thresholds!r}).")
    gc.freeze()
    gc.set_threshold(*values)
    return values
