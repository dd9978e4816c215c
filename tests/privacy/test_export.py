"""Issue 5 §4: a bulk export needs a second approver; it is downloaded once, by the requester, masked, and
logged."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from allot.core.errors import Conflict, NotFound, PermissionDenied
from allot.privacy.models import AccessLog, ExportRequest
from allot.privacy.services import export_approve, export_download
from allot.registrations.models import Registration
from tests.otp_client import OtpClient
from tests.security.dataset import City, build_city


@pytest.fixture
def city(xiamen, django_capture_on_commit_callbacks) -> City:
    return build_city(xiamen, django_capture_on_commit_callbacks)


def test_the_requester_cannot_approve_their_own_export(city):
    with pytest.raises(PermissionDenied) as exc:
        export_approve(actor=city.users["operator"], export_pk=city.export.pk)
    assert exc.value.code == "second_approver_required"


def test_an_operator_of_another_campaign_cannot_approve(city):
    with pytest.raises(NotFound):
        export_approve(actor=city.users["other_operator"], export_pk=city.export.pk)


def test_no_download_before_the_second_approval(city):
    with pytest.raises(Conflict) as exc:
        export_download(actor=city.users["operator"], export_pk=city.export.pk)
    assert exc.value.code == "export_not_approved"


def test_approved_export_downloads_once_masked_and_is_logged(city):
    # given a second operator's approval
    export_approve(actor=city.users["operator2"], export_pk=city.export.pk)
    # when the requester downloads it through the page
    client = OtpClient()
    client.force_login(city.users["operator"])
    response = client.post(f"/staff/exports/{city.export.pk}/download/")
    # then it is a CSV of every registration with masked values only
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    regs = Registration.objects.filter(campaign=city.campaign).select_related("person")  # losers rolled over too
    assert len(rows) == regs.count() > len(city.registrations)
    assert {r["id_masked"] for r in rows} == {r.person.id_masked for r in regs}
    assert city.leaks(text) == []
    # and an access-log row records it with the purpose and the count
    row = AccessLog.objects.filter(action="export").get()
    assert (row.actor, row.records, row.purpose) == (city.users["operator"], len(rows), city.export.purpose)
    # and a second download is refused
    with pytest.raises(Conflict) as exc:
        export_download(actor=city.users["operator"], export_pk=city.export.pk)
    assert exc.value.code == "export_already_downloaded"


def test_only_the_requester_downloads_and_only_within_a_day(city):
    export_approve(actor=city.users["operator2"], export_pk=city.export.pk)
    with pytest.raises(PermissionDenied):
        export_download(actor=city.users["operator2"], export_pk=city.export.pk)
    with pytest.raises(Conflict) as exc:
        export_download(actor=city.users["operator"], export_pk=city.export.pk,
                        now=timezone.now() + dt.timedelta(hours=25))
    assert exc.value.code == "export_expired"
    assert ExportRequest.objects.get(pk=city.export.pk).state == "approved"
