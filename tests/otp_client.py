"""A test client whose ``force_login`` also completes the second factor for accounts that need one, the way
``django_otp.login`` does after a correct code: a confirmed TOTP device, its id in the session."""

from __future__ import annotations

from typing import Any

from django.test import Client


def otp_verify_session(client: Client, user: Any) -> None:
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from allot.staff.selectors import needs_second_factor

    if not needs_second_factor(user):
        return
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


class OtpClient(Client):
    def force_login(self, user: Any, backend: str | None = None) -> None:
        super().force_login(user, backend)
        otp_verify_session(self, user)
