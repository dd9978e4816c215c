"""Locking helpers (pretix ``base/services/locking.py`` idea): refuse to run outside a transaction, lock rows
in a fixed order, and a database lease so that a scheduled job runs once even with several workers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TypeVar

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from allot.core.models import JobLease

M = TypeVar("M", bound=models.Model)


class LockOutsideTransaction(RuntimeError):
    pass


def ensure_in_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise LockOutsideTransaction("row locks must be taken inside transaction.atomic()")


def lock_rows(queryset: models.QuerySet[M]) -> list[M]:
    """Lock the rows of ``queryset`` in primary-key order (no deadlocks between two lockers)."""
    ensure_in_transaction()
    return list(queryset.order_by("pk").select_for_update())


def lock_one(model: type[M], pk: object) -> M:
    ensure_in_transaction()
    return model._default_manager.select_for_update().get(pk=pk)


def lock_shared(model: type[models.Model], pk: object) -> None:
    """Take a shared row lock (PostgreSQL ``FOR SHARE``): many holders at once, but an exclusive
    ``select_for_update`` on the same row waits for all of them. On SQLite, whose writers are serialised by
    the IMMEDIATE transaction anyway, this is a no-op."""
    ensure_in_transaction()
    conn = transaction.get_connection()
    if conn.vendor != "postgresql":
        return
    table = conn.ops.quote_name(model._meta.db_table)
    with conn.cursor() as cur:
        cur.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR SHARE", [pk])  # noqa: S608 - table name from model


def lease_acquire(*, name: str, holder: str, seconds: int, now: dt.datetime | None = None) -> bool:
    """Take the lease ``name`` for ``seconds`` if nobody holds an unexpired one. Atomic on SQLite and
    PostgreSQL: the conditional UPDATE and the INSERT are each a single statement, the primary key the
    backstop."""
    now = now or timezone.now()
    until = now + dt.timedelta(seconds=seconds)
    taken = JobLease.objects.filter(name=name).filter(
        models.Q(expires_at__lte=now) | models.Q(holder=holder)
    ).update(holder=holder, expires_at=until, last_run_at=now)
    if taken:
        return True
    if JobLease.objects.filter(name=name).exists():
        return False
    try:
        with transaction.atomic():
            JobLease.objects.create(name=name, holder=holder, expires_at=until, last_run_at=now)
    except IntegrityError:
        return False
    return True


def lease_release(*, name: str, holder: str) -> None:
    JobLease.objects.filter(name=name, holder=holder).delete()


def chunked(items: Iterable[M], size: int) -> Iterable[list[M]]:
    batch: list[M] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
