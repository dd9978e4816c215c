"""Issue 5 §4: full values only through "reveal" with a purpose; an access-log row for each look; rows are
append-only (in the application, and on PostgreSQL for every database client, by a trigger)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from allot.core.errors import DomainError, NotFound
from allot.privacy.models import AccessLog, AppendOnly
from allot.privacy.services import person_reveal
from tests.otp_client import OtpClient
from tests.security.dataset import City, build_city


@pytest.fixture
def city(xiamen, django_capture_on_commit_callbacks) -> City:
    return build_city(xiamen, django_capture_on_commit_callbacks)


def test_reveal_shows_full_values_and_records_who_role_when_record_and_purpose(city):
    # given an operator of the campaign and a registration
    operator, reg = city.users["operator"], city.registrations[2]
    resident = city.residents[2]
    # when they reveal it with a purpose
    revealed = person_reveal(actor=operator, registration_pk=reg.pk, purpose="Resident disputes the result")
    # then the full values are returned and one access-log row says who, role, when, record and why
    assert (revealed.id_number, revealed.phone, revealed.name) == (resident.id_number, resident.phone,
                                                                   resident.name)
    row = AccessLog.objects.get(pk=revealed.access_log_id)
    assert (row.actor, row.role, row.action, row.object_type, row.object_id, row.purpose) == (
        operator, "operator", "reveal", "registrations.registration", str(reg.pk), "Resident disputes the result")
    assert row.created_at is not None and row.campaign_slug == city.campaign.slug


def test_reveal_without_a_purpose_is_refused_and_logs_nothing(city):
    before = AccessLog.objects.count()
    with pytest.raises(DomainError) as exc:
        person_reveal(actor=city.users["operator"], registration_pk=city.registrations[0].pk, purpose="  why ")
    assert exc.value.code == "purpose_required"
    assert AccessLog.objects.count() == before


def test_reveal_of_another_campaigns_registration_is_not_found(city):
    with pytest.raises(NotFound):
        person_reveal(actor=city.users["other_operator"], registration_pk=city.registrations[0].pk,
                      purpose="Trying my luck with another campaign")


def test_notaries_and_clerks_cannot_reveal(city):
    for role in ("notary", "clerk", "committee"):
        with pytest.raises(NotFound):
            person_reveal(actor=city.users[role], registration_pk=city.registrations[0].pk,
                          purpose="A purpose long enough")


def test_the_reveal_page_asks_for_a_purpose_first(city):
    client = OtpClient()
    client.force_login(city.users["operator"])
    reg = city.registrations[0]
    page = client.get(f"/staff/registrations/{reg.pk}/")
    assert page.status_code == 200 and 'id="reveal-form"' in page.content.decode()
    assert city.residents[0].id_number not in page.content.decode()
    refused = client.post(f"/staff/registrations/{reg.pk}/reveal/", {"purpose": ""})
    assert refused.status_code == 400 and city.residents[0].id_number not in refused.content.decode()


def test_access_log_rows_cannot_be_changed_or_deleted_by_the_application(city):
    row = AccessLog.objects.first()
    assert row is not None
    row.purpose = "something else"
    with pytest.raises(AppendOnly):
        row.save()
    with pytest.raises(AppendOnly):
        row.delete()
    with pytest.raises(AppendOnly):
        AccessLog.objects.filter(pk=row.pk).update(purpose="x")
    with pytest.raises(AppendOnly):
        AccessLog.objects.all().delete()


@pytest.mark.postgres
def test_on_postgresql_a_trigger_refuses_update_and_delete_from_any_client(city):
    assert connection.vendor == "postgresql"
    row = AccessLog.objects.first()
    assert row is not None
    for sql in ("UPDATE privacy_accesslog SET purpose = 'rewritten' WHERE id = %s",
                "DELETE FROM privacy_accesslog WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [row.pk])
    assert AccessLog.objects.get(pk=row.pk).purpose == row.purpose
    # and inserting still works
    person_reveal(actor=city.users["operator"], registration_pk=city.registrations[1].pk,
                  purpose="Second look, still allowed")
