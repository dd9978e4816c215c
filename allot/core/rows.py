"""Insert one model row with hand-written SQL, for the few hot paths where the ORM's query compilation costs more
than the database (the first-come claim: see docs/adr/0007-first-come.md and bench/README.md).

``row_insert(obj)`` does what ``obj.save()`` does for a new row of a model with an auto primary key — the same
columns, the fields' own ``pre_save`` (``auto_now``/``auto_now_add``) and ``get_db_prep_save`` conversions,
``RETURNING`` the new key (SQLite ≥ 3.35, PostgreSQL) — but the SQL text is built once per model and
conflict clause, and no signals are sent (the models written this way have no receivers). Constraints are the
database's, unchanged: a unique or check violation raises ``IntegrityError`` as with the ORM.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import DateTimeField, Field, Model
from django.db.models.base import ModelState
from django.utils import timezone


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


_PLAIN_TYPES = frozenset({"CharField", "TextField", "SlugField", "IntegerField", "PositiveIntegerField",
                          "BigIntegerField", "SmallIntegerField", "PositiveSmallIntegerField", "AutoField",
                          "BigAutoField"})


@functools.cache
def _plain(model: type[Model]) -> tuple[bool, ...]:
    """Per inserted field: whether a ``str``/``int``/``None`` value goes to the driver as it is (the field's
    ``get_db_prep_save`` would return it unchanged: text and integer columns, and foreign keys to them)."""
    _sql, fields = _insert(model, connection.vendor, "")
    return tuple(f.get_internal_type() in _PLAIN_TYPES
                 or (f.is_relation and getattr(f, "target_field").get_internal_type() in _PLAIN_TYPES)  # noqa: B009
                 for f in fields)


_PLAIN_VALUE, _DATETIME_VALUE, _DATE_VALUE, _PREP_VALUE = 0, 1, 2, 3


@functools.cache
def _param_plan(model: type[Model], vendor: str) -> tuple[tuple[str, Field[Any, Any], bool, int], ...]:
    """Per inserted field: (attribute, field, whether it is set to the insert's instant (``auto_now``), how its value
    goes to the driver — as it is (text, integers, foreign keys to them), as a datetime, as a date, or through
    the field's ``get_db_prep_save``)."""
    plain = _plain(model)
    plan = []
    for (_column, attname, f, how), p in zip(_json_plan(model), plain, strict=True):
        kind = (_PLAIN_VALUE if p else _DATETIME_VALUE if isinstance(f, DateTimeField)
                else _DATE_VALUE if f.get_internal_type() == "DateField" else _PREP_VALUE)
        plan.append((attname, f, how == _NOW, kind))
    return tuple(plan)


def _params(objs: Sequence[Model], fields: tuple[Field[Any, Any], ...], now: dt.datetime | None = None
            ) -> list[Any]:
    """The rows' values as the driver takes them; ``now``: what ``auto_now``/``auto_now_add`` fields are set to
    (one instant for a batch; else each field's ``pre_save`` draws its own). The values the fields' own
    ``get_db_prep_save`` would leave unchanged (text, integers) or adapt in a known way (an aware UTC datetime, a
    date) are converted here; anything else goes through the field."""
    conn = connections[DEFAULT_DB_ALIAS]   # the thread's connection, looked up once (not through the proxy)
    sqlite = conn.vendor == "sqlite"
    use_tz = settings.USE_TZ
    plan = _param_plan(type(objs[0]), conn.vendor)
    params: list[Any] = []
    append = params.append
    for obj in objs:
        attrs = obj.__dict__
        for attname, f, at_now, kind in plan:
            if at_now and now is not None:
                value = attrs[attname] = now
            elif attname in attrs and type(f).pre_save is Field.pre_save:
                value = attrs[attname]
            else:
                value = f.pre_save(obj, True)
            if value is None or (kind == _PLAIN_VALUE and type(value) in (str, int)):
                append(value)
            elif kind == _DATETIME_VALUE and type(value) is dt.datetime and value.tzinfo is dt.UTC and use_tz:
                # what the backends' adapt_datetimefield_value gives for an aware UTC datetime (timezone.now()):
                # SQLite stores the naive UTC text, PostgreSQL's driver takes the object
                append(str(value.replace(tzinfo=None)) if sqlite else value)
            elif kind == _DATE_VALUE and type(value) is dt.date:
                append(value.isoformat() if sqlite else value)   # adapt_datefield_value: str() on SQLite
            else:
                append(f.get_db_prep_save(value, conn))
    return params


def row_insert(obj: Model, *, on_conflict: str = "") -> Any:
    """Insert ``obj`` as a new row and set its primary key; ``on_conflict`` is an optional ``ON CONFLICT …``
    clause (its own SQL, written by the caller, no parameters). Returns the key, or None when the conflict
    clause skipped the row (``DO NOTHING`` or ``DO UPDATE … WHERE`` false)."""
    sql, fields = _insert(type(obj), connection.vendor, on_conflict)
    params = _params([obj], fields)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    key_set(obj, row[0])
    return obj.pk


@functools.cache
def _insert_many(model: type[Model], vendor: str, on_conflict: str, n: int, match: str | None) -> str:
    sql, fields = _insert(model, vendor, on_conflict)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    head, _values, _tail = sql.partition(" VALUES ")
    meta = model._meta
    if match is None:
        return f"{head} VALUES {', '.join([row] * n)} {on_conflict}"
    pk_column, match_column = str(meta.pk.column), str(meta.get_field(match).column)  # type: ignore[union-attr]
    return (f"{head} VALUES {', '.join([row] * n)} {on_conflict} "
            f"RETURNING {connection.ops.quote_name(pk_column)}, {connection.ops.quote_name(match_column)}")


def rows_insert(objs: Sequence[Model], *, match: str | None, on_conflict: str = "",
                now: dt.datetime | None = None) -> list[Model]:
    """``row_insert`` for several rows of one model in one statement (group commit of first-come claims). The
    new keys are matched back to the objects by the unique column ``match`` (the order of rows RETURNING gives
    is not something to rely on); returns the objects that got a row (all of them, unless ``on_conflict``
    skipped some). With ``match=None`` nothing is returned and the objects keep no key (audit rows). ``now``: the
    instant ``auto_now``/``auto_now_add`` fields take (a batch's, shared)."""
    if not objs:
        return []
    model = type(objs[0])
    _sql, fields = _insert(model, connection.vendor, on_conflict)
    sql = _insert_many(model, connection.vendor, on_conflict, len(objs), match)
    params = _params(objs, fields, now)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if match is None:
            return []
        keys = {key: pk for pk, key in cursor.fetchall()}
    done = []
    for obj in objs:
        pk = keys.get(getattr(obj, match))
        if pk is not None:
            key_set(obj, pk)
            done.append(obj)
    return done


# --- many rows of several tables in one PostgreSQL statement, through one JSON document ---------------------

def insert_fields(model: type[Model]) -> tuple[Field[Any, Any], ...]:
    """The columns ``row_insert`` writes: every concrete field but the auto primary key, in the model's order."""
    return _insert(model, connection.vendor, "")[1]


def json_recordset(model: type[Model], source: str, alias: str, *, skip: frozenset[str] = frozenset(),
                   extra: tuple[tuple[str, str], ...] = ()) -> str:
    """``jsonb_to_recordset(<source>) AS <alias>(<column> <type>, …)`` for the insert columns of ``model`` (less
    ``skip``, plus ``extra`` (name, SQL type) pairs): a JSON array of objects keyed by column name read back as
    typed rows. Identifiers and types come from the model's meta, never from input."""
    q = connection.ops.quote_name
    columns = [f"{q(str(f.column))} {f.db_type(connection)}" for f in insert_fields(model) if f.column not in skip]
    columns += [f"{q(name)} {sql_type}" for name, sql_type in extra]
    return f"jsonb_to_recordset({source}) AS {alias}({', '.join(columns)})"


_AS_IS, _NOW, _OTHER = 0, 1, 2


@functools.cache
def _json_plan(model: type[Model]) -> tuple[tuple[str, str, Field[Any, Any], int], ...]:
    """Per insert column of ``model``: (column, attribute, field, how its value is found) — ``_NOW``: an
    ``auto_now``/``auto_now_add`` datetime (set at insert); ``_OTHER``: a field class with a ``pre_save`` of its
    own that must run; ``_AS_IS``: the attribute (``Field.pre_save``)."""
    plan = []
    for f in insert_fields(model):
        if isinstance(f, DateTimeField) and (f.auto_now or f.auto_now_add):
            kind = _NOW
        elif type(f).pre_save is not Field.pre_save:
            kind = _OTHER
        else:
            kind = _AS_IS
        plan.append((str(f.column), f.attname, f, kind))
    return tuple(plan)


def json_row(obj: Model, *, skip: frozenset[str] = frozenset(), now: dt.datetime | None = None) -> dict[str, Any]:
    """``obj``'s insert columns as a JSON object for ``json_recordset``: the fields' own ``pre_save`` (so
    ``auto_now``/``auto_now_add`` are set on ``obj`` as ``row_insert`` sets them: to ``now`` when given — one
    instant for a batch — else to ``timezone.now()``) and database values — text and integers as they are,
    datetimes and dates in ISO 8601 (PostgreSQL reads the offset), JSON columns as the nested value they hold."""
    row: dict[str, Any] = {}
    attrs = obj.__dict__
    for column, attname, f, how in _json_plan(type(obj)):
        if column in skip:
            continue
        if how == _AS_IS:
            value = attrs[attname] if attname in attrs else getattr(obj, attname)
        elif how == _NOW:
            value = attrs[attname] = now or timezone.now()
        else:
            value = f.pre_save(obj, True)
        kind = type(value)
        if value is None or kind is str or kind is int or kind is bool:
            row[column] = value
        elif kind is dt.datetime:
            if value.tzinfo is None:
                raise TypeError(f"{column}: a naive datetime cannot be written through JSON")
            row[column] = value.isoformat()
        elif kind is dt.date:
            row[column] = value.isoformat()
        elif isinstance(value, str):     # a TextChoices member: its value
            row[column] = str.__str__(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            row[column] = int(value)
        elif isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise TypeError(f"{column}: a naive datetime cannot be written through JSON")
            row[column] = value.isoformat()
        elif isinstance(value, dt.date):
            row[column] = value.isoformat()
        elif f.get_internal_type() == "JSONField":
            row[column] = value
        else:
            prepped = f.get_db_prep_save(value, connection)
            if prepped is not None and type(prepped) not in (str, int, bool):
                raise TypeError(f"{column}: {type(prepped).__name__} is not written through JSON")
            row[column] = prepped
    return row


# --- new unsaved instances without Model.__init__ ---------------------------------------------------------

M = TypeVar("M", bound=Model)


@functools.cache
def _defaults(model: type[Model]) -> tuple[dict[str, Any], tuple[tuple[str, Field[Any, Any]], ...]]:
    """Per concrete field: the default ``Model.__init__`` gives a field not passed — constant ones once, in a dict
    by attribute name; fields whose default is a callable (``default=dict``) apart, called per instance."""
    constant: dict[str, Any] = {}
    called: list[tuple[str, Field[Any, Any]]] = []
    for f in model._meta.concrete_fields:
        if f.has_default() and callable(f.default):
            called.append((f.attname, f))
        else:
            constant[f.attname] = f.get_default()
    return constant, tuple(called)


def instance(model: type[M], values: dict[str, Any], related: dict[str, Model] | None = None) -> M:
    """A new, unsaved ``model`` as ``model(**values)`` builds it, for the claim path's hot loop: ``values`` by
    attribute name (``campaign_id``, not ``campaign``), every other field its default; ``related``: objects to
    cache for their foreign keys (as ``model(campaign=obj)`` caches ``obj``), whose ids must be in ``values``.

    ``Model.__init__`` spent most of a claim's row building looking up the defaults of fields one by one and
    sending ``pre_init``/``post_init`` (~30–40 µs an instance here, bench/README.md fifth session); this copies the
    defaults from a dict. It sends no signals, so it is for models that have no receivers of them (the claim's
    rows: tests/core/test_rows.py compares the instances with ``model(**values)``'s)."""
    obj = model.__new__(model)
    constant, called = _defaults(model)
    state = obj.__dict__
    state.update(constant)
    for attname, f in called:
        state[attname] = f.get_default()
    state.update(values)
    obj._state = ModelState()
    if related:
        obj._state.fields_cache.update(related)
    return obj


def key_set(obj: Model, pk: Any, alias: str | None = None) -> None:
    """What ``row_insert`` does to an object once its row exists (``alias``: the connection's, if known)."""
    obj.__dict__[obj._meta.pk.attname] = pk
    state = obj._state
    state.adding = False
    state.db = alias or connection.alias
