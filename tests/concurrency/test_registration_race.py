"""200 concurrent registrations of the same person give exactly one row.

PostgreSQL's default max_connections (100) caps true simultaneity, so 80 threads with their own connections
start together at a barrier and share the 200 attempts between them.

First the race is shown with the guard (the unique constraint) removed, then that the guard holds."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from allot.core.errors import DomainError
from allot.registrations.models import Registration
from allot.registrations.services import registration_create
from tests.conftest import registration_request

N = 200
THREADS = 80


def _known_person() -> None:
    """A resident who registered before (in an earlier round): their Person row already exists, so only the
    registration insert is raced."""
    from allot.identity import validation
    from allot.identity.services import PersonInput, person_upsert

    req = registration_request(7)
    person_upsert(data=PersonInput(id_number=validation.normalize_id_number(req.id_number),
                                   phone=validation.normalize_phone(req.phone), name=req.name))


def _hammer(campaign, n: int = N) -> tuple[int, dict[str, int]]:
    _known_person()
    barrier = threading.Barrier(THREADS)
    ok = 0
    left = n
    errors: dict[str, int] = {}
    lock = threading.Lock()

    def worker() -> None:
        nonlocal ok, left
        try:
            barrier.wait()
            while True:
                with lock:
                    if left == 0:
                        return
                    left -= 1
                try:
                    registration_create(campaign=campaign, request=registration_request(7))
                    with lock:
                        ok += 1
                except DomainError as exc:
                    with lock:
                        errors[exc.code] = errors.get(exc.code, 0) + 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok, errors


@pytest.mark.django_db(transaction=True)
def test_without_the_unique_constraint_concurrent_registrations_duplicate(xiamen):
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE registrations_registration DROP CONSTRAINT one_registration_per_person_round")
    try:
        ok, _errors = _hammer(xiamen.campaign)
        assert ok > 1, "the race did not show: the check-then-insert alone should let duplicates in"
        assert Registration.objects.count() == ok
    finally:
        Registration.objects.all().delete()
        with connection.cursor() as cur:
            cur.execute("ALTER TABLE registrations_registration ADD CONSTRAINT one_registration_per_person_round "
                        "UNIQUE (round_id, person_id)")


@pytest.mark.django_db(transaction=True)
def test_with_the_unique_constraint_200_concurrent_registrations_give_one_row(xiamen):
    ok, errors = _hammer(xiamen.campaign)
    assert ok == 1
    assert errors == {"already_registered": N - 1}
    assert Registration.objects.count() == 1
