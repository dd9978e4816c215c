"""Eligibility upload: counts and line errors by code, never the ID numbers themselves."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from allot.identity.models import EligibilityEntry, EligibilityList
from tests.conftest import make_id_number

URL = "/staff/eligibility/upload/"


@pytest.fixture
def hukou(xiamen):
    lst = EligibilityList.objects.create(code="xiamen-hukou", name="厦门户籍")
    xiamen.campaign.eligibility_lists.add(lst)
    return lst


def _csv(*rows: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("list.csv", ("id_number\n" + "\n".join(rows) + "\n").encode(), "text/csv")


def test_operator_uploads_a_list_and_sees_counts_and_error_codes_only(client, operator, hukou):
    client.force_login(operator)
    bad = make_id_number(seq=3)[:-1] + ("0" if make_id_number(seq=3)[-1] != "0" else "1")

    response = client.post(URL, {"eligibility_list": hukou.pk,
                                 "file": _csv(make_id_number(seq=1), make_id_number(seq=2), bad)})

    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["report"].added == 2
    assert "line 4: id_number_checksum" in body.lower()
    assert bad not in body and make_id_number(seq=1) not in body
    hukou.refresh_from_db()
    assert hukou.size == 2


def test_replace_drops_entries_missing_from_the_new_file(client, operator, hukou):
    client.force_login(operator)
    client.post(URL, {"eligibility_list": hukou.pk, "file": _csv(make_id_number(seq=1), make_id_number(seq=2))})

    client.post(URL, {"eligibility_list": hukou.pk, "file": _csv(make_id_number(seq=2)), "replace": "on"})

    assert EligibilityEntry.objects.filter(eligibility_list=hukou).count() == 1


def test_a_file_without_the_id_number_column_is_refused_with_the_code(client, operator, hukou):
    client.force_login(operator)
    upload = SimpleUploadedFile("list.csv", b"name\nx\n", "text/csv")

    response = client.post(URL, {"eligibility_list": hukou.pk, "file": upload})

    assert response.status_code == 400
    assert "csv_header" in response.content.decode()


def test_operator_cannot_pick_a_list_outside_their_campaigns(client, operator, hukou):
    other = EligibilityList.objects.create(code="elsewhere", name="别处")
    client.force_login(operator)

    response = client.post(URL, {"eligibility_list": other.pk, "file": _csv(make_id_number(seq=1))})

    assert response.status_code == 200 and "eligibility_list" in response.context["form"].errors
    assert not EligibilityEntry.objects.exists()


def test_notary_cannot_upload(client, notary, hukou):
    client.force_login(notary)

    assert client.get(URL).status_code == 403
