"""`manage.py demo_totp USERNAME`: the current six-digit code of a demo staff account's authenticator, so that a
visitor without an authenticator app can walk the demo. Refuses to run unless ALLOT_DEMO is on (local settings
only): on a real deployment the second factor lives on the staff member's phone and nowhere else."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.oath import TOTP

from allot.staff.services import totp_device_for_enrolment


class Command(BaseCommand):
    help = "Demo only: print the current TOTP code of a staff account (enrolling it if needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        if not getattr(settings, "ALLOT_DEMO", False):
            raise CommandError("demo_totp only runs in the demo (ALLOT_DEMO=true); a real second factor stays on "
                               "the staff member's phone.")
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no account {options['username']!r}")
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = (TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
                  or totp_device_for_enrolment(user=user))
        token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
        self.stdout.write(f"{token:0{device.digits}d}")
