"""`manage.py demo_totp`: a working second-factor code for the demo, refused outside the demo."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from allot.staff.services import staff_account_upsert, totp_verify


def test_the_printed_code_enrols_the_demo_operator(db, settings):
    settings.ALLOT_DEMO = True
    account = staff_account_upsert(username="operator", role="operator", password="demo-operator-2026")
    out = io.StringIO()
    call_command("demo_totp", "operator", stdout=out)
    device = TOTPDevice.objects.get(user=account.user)
    assert totp_verify(user=account.user, device=device, token=out.getvalue().strip())
    device.refresh_from_db()
    assert device.confirmed


def test_it_refuses_outside_the_demo(db, settings):
    settings.ALLOT_DEMO = False
    staff_account_upsert(username="operator", role="operator", password="demo-operator-2026")
    with pytest.raises(CommandError):
        call_command("demo_totp", "operator")
