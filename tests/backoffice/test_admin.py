"""The Django admin: every page renders, nothing personal in clear, writes with rules go through services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from allot.campaigns.models import Round, Supply
from allot.core.models import AuditLog
from allot.draws.models import Draw
from allot.identity.models import EligibilityList
from allot.places.models import Outlet
from allot.staff.models import StaffProfile
from tests.conftest import make_id_number, make_phone

ALLOT_MODELS = [m for m in admin.site._registry if m._meta.app_label in
                {"core", "staff", "places", "identity", "campaigns", "registrations", "draws", "pickup"}]


@pytest.fixture
def superuser(staff_factory):
    return staff_factory("root", "", superuser=True)


@pytest.fixture
def full_city(xiamen, drawn, winning_code, clerk_factory, operator):
    """Something in every table: registrations, a published draw, a redeemed code, a list, a staff profile."""
    from allot.pickup.services import pickup_redeem

    EligibilityList.objects.create(code="xiamen-hukou", name="厦门户籍", size=0)
    pickup_redeem(code=winning_code.code, clerk=clerk_factory(xiamen.outlets[0]))
    return xiamen


def _secrets() -> list[str]:
    """The clear personal numbers of the residents the fixtures registered, in every form one might leak."""
    out = []
    for n in range(1, 4):
        out += [make_id_number(seq=n), make_phone(n), make_phone(n)[3:]]
    return out


def test_every_allot_model_is_registered():
    names = {m._meta.label for m in ALLOT_MODELS}

    assert {"campaigns.Campaign", "campaigns.Round", "campaigns.Supply", "places.Outlet", "places.Division",
            "places.Street", "places.Committee", "identity.EligibilityList", "identity.Person",
            "registrations.Registration", "draws.Draw", "draws.DrawFile", "pickup.PickupCode",
            "staff.StaffProfile", "core.AuditLog"} <= names


@pytest.mark.parametrize("model", ALLOT_MODELS, ids=lambda m: m._meta.label)
def test_changelist_and_first_object_render_without_personal_numbers_in_clear(client, superuser, full_city, model):
    client.force_login(superuser)
    info = (model._meta.app_label, model._meta.model_name)

    changelist = client.get(reverse("admin:{}_{}_changelist".format(*info)))
    obj = model._default_manager.order_by("pk").first()
    detail = client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk])) if obj is not None else None

    assert changelist.status_code == 200
    pages = [changelist.content.decode()]
    if detail is not None:
        assert detail.status_code == 200
        pages.append(detail.content.decode())
    for text in pages:
        for secret in _secrets():
            assert secret not in text


def test_person_admin_shows_masked_fields_and_allows_no_add(client, superuser, full_city):
    client.force_login(superuser)

    page = client.get(reverse("admin:identity_person_changelist")).content.decode()

    assert "350203********" in page and "139****0001" in page
    assert client.get(reverse("admin:identity_person_add")).status_code == 403


def test_audit_log_cannot_be_changed_or_deleted(client, superuser, full_city):
    client.force_login(superuser)
    entry = AuditLog.objects.first()

    client.post(reverse("admin:core_auditlog_change", args=[entry.pk]), {"action": "tampered"})
    deleted = client.post(reverse("admin:core_auditlog_delete", args=[entry.pk]), {"post": "yes"})

    assert deleted.status_code == 403
    entry.refresh_from_db()
    assert entry.action != "tampered"


def test_supply_edited_in_the_admin_goes_through_supply_set(client, superuser, xiamen, registered):
    client.force_login(superuser)
    supply = Supply.objects.get(outlet=xiamen.outlets[0])

    client.post(reverse("admin:campaigns_supply_change", args=[supply.pk]), {"packs": 7})

    supply.refresh_from_db()
    assert supply.packs == 7
    assert AuditLog.objects.filter(action="allot.supply.set", actor=superuser).exists()


def test_supply_of_a_drawn_round_is_refused_with_the_service_message(client, superuser, xiamen, drawn):
    client.force_login(superuser)
    supply = Supply.objects.get(round=drawn.round, outlet=xiamen.outlets[0])

    response = client.post(reverse("admin:campaigns_supply_change", args=[supply.pk]), {"packs": 99}, follow=True)

    supply.refresh_from_db()
    assert supply.packs == 2
    assert "round_frozen" in response.content.decode()


def test_campaign_action_draws_the_current_round_now(client, superuser, xiamen, registered):
    client.force_login(superuser)

    client.post(reverse("admin:campaigns_campaign_changelist"),
                {"action": "draw_current_round_now", "_selected_action": [xiamen.campaign.pk]})

    assert Draw.objects.get(round=registered[0].round).state == Draw.State.PUBLISHED


def test_round_added_in_the_admin_uses_round_get_or_create(client, superuser, xiamen):
    client.force_login(superuser)

    client.post(reverse("admin:campaigns_round_add"), {"campaign": xiamen.campaign.pk, "draw_date": "2031-01-02"})

    assert Round.objects.filter(campaign=xiamen.campaign, draw_date=dt.date(2031, 1, 2)).exists()
    assert AuditLog.objects.filter(action="allot.round.created").exists()


def test_outlets_import_page_imports_through_the_service(client, superuser, xiamen):
    client.force_login(superuser)
    text = ("code,name,district_code,address,latitude,longitude,opening_hours\n"
            "XM-JM-009,集美测试药房,350211,集美区集美大道1号,24.60,118.05,08:00-22:00\n"
            "bad code!,x,350211,x,24.6,118.0,x\n")

    response = client.post(reverse("admin:places_outlet_import"),
                           {"kind": "outlets", "file": SimpleUploadedFile("o.csv", text.encode())}, follow=True)

    assert Outlet.objects.filter(code="XM-JM-009", district_id="350211").exists()
    assert "line 3" in response.content.decode().lower()


def test_staff_profile_admin_is_editable(client, superuser, operator):
    client.force_login(superuser)
    profile = StaffProfile.objects.get(user=operator)

    assert client.get(reverse("admin:staff_staffprofile_change", args=[profile.pk])).status_code == 200
