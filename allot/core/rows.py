"""Insert one model row with hand-written SQL, for the few hot paths where the ORM's query compilation costs more
than the database (the first-come claim: see docs/adr/0007-first-come.md and bench/README.md).

``row_insert(obj)`` does what ``obj.save()`` does for a new row of a model with an auto primary key — the same
columns, the fields' own ``pre_save`` (``auto_now``/``auto_now_add``) and ``get_db_prep_save`` conversions,
``RETURNING`` the new key (SQLite ≥ 3.35, PostgreSQL) — but the SQL text is built once per model and
conflict clause, and no signals are sent (the models written this way have no receivers). Constraints are the
database's, unchanged: a unique or check violation raises ``IntegrityError`` as with the ORM.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection
from django.db.models import Field, Model


@functools.cache
def _insert(model: type[Model], vendor: str, on_conflict: str) -> tuple[str, tuple[Field[Any, Any], ...]]:
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    def q(name: str | None) -> str:
        assert name is not None
        return connection.ops.quote_name(name)

    # identifiers from the model's meta, values always parameters: no input reaches the SQL text
    columns, marks = ", ".join(q(f.column) for f in fields), ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {q(meta.db_table)} ({columns}) VALUES ({marks}) {on_conflict} RETURNING {q(meta.pk.column)}"  # noqa: S608
    return sql, fields


def row_insert(obj: Model, *, on_conflict: str = "") -> Any:
    """Insert ``obj`` as a new row and set its primary key; ``on_conflict`` is an optional ``ON CONFLICT …``
    clause (its own SQL, written by the caller, no parameters). Returns the key, or None when the conflict
    clause skipped the row (``DO NOTHING`` or ``DO UPDATE … WHERE`` false)."""
    sql, fields = _insert(type(obj), connection.vendor, on_conflict)
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj.pk
