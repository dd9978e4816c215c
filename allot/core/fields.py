"""Model fields of our own."""

from __future__ import annotations

from typing import Any

from django.db import models


class FixedCharField(models.CharField):
    """Text of one fixed length (``char(n)``), for values that always have it, such as hex digests.

    On PostgreSQL a ``varchar`` or ``text`` column that is unique or indexed gets a second index, for ``LIKE``
    (``…_like``, ``varchar_pattern_ops``). Every insert then writes both. A ``char(n)`` column gets only its own
    index. Nothing looks such values up with ``LIKE``. ``RateCounter.key`` dropped its twin through a ``Meta``
    constraint; a primary key cannot (bench/README.md, thirteenth and fourteenth sessions)."""

    def db_type(self, connection: Any) -> str:
        return f"char({self.max_length})"
