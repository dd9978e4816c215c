"""Back-office fixtures: staff of each role, and a drawn round with pickup codes (through the real services)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from allot.campaigns.selectors import draw_date_for
from allot.campaigns.services import round_get_or_create, supply_set
from allot.registrations.services import registration_create
from allot.staff.models import StaffProfile
from tests.conftest import registration_request


@pytest.fixture
def staff_factory(db):
    def make(username: str, role: str, *, campaigns=(), outlet=None, superuser: bool = False):
        user = get_user_model().objects.create_user(username=username, password="staff-pass-123",
                                                    is_staff=superuser, is_superuser=superuser)
        if role:
            profile = StaffProfile.objects.create(user=user, role=role, outlet=outlet)
            profile.campaigns.set(campaigns)
        return user

    return make


@pytest.fixture
def operator(staff_factory, xiamen):
    return staff_factory("op", StaffProfile.Role.OPERATOR, campaigns=[xiamen.campaign])


@pytest.fixture
def notary(staff_factory, xiamen):
    return staff_factory("notary", StaffProfile.Role.NOTARY, campaigns=[xiamen.campaign])


@pytest.fixture
def registered(xiamen):
    """Three residents registered for the current round at XM-SM-001, which has supply for two."""
    c = xiamen.campaign
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=2)
    return [registration_create(campaign=c, request=registration_request(i)) for i in range(1, 4)]


@pytest.fixture
def drawn(xiamen, registered, django_capture_on_commit_callbacks):
    """The current round drawn now (synthetic beacon), pickup open; returns the draw."""
    from allot.draws.services import draw_run_now

    with django_capture_on_commit_callbacks(execute=True):
        return draw_run_now(campaign=xiamen.campaign)


@pytest.fixture
def winning_code(drawn):
    from allot.pickup.models import PickupCode

    return PickupCode.objects.filter(registration__round=drawn.round).order_by("pk").first()


@pytest.fixture
def client():
    """Operators, notaries and superusers log in with a second factor: ``force_login`` completes it too."""
    from tests.otp_client import OtpClient

    return OtpClient()
