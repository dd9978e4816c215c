"""``manage.py sms_outbox --last PHONE``: print the newest SMS to a phone, for the demo and for tests.

It refuses unless DEBUG is on or ALLOT_SMS_BACKEND is ``console``: in a real deployment messages carry
one-time codes and only the phone's owner may read them. There is no HTTP equivalent on purpose."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from allot.core.errors import DomainError
from allot.verification.sms import sms_backend_name, sms_last, sms_text


class Command(BaseCommand):
    help = "Show the newest message in the SMS outbox for a phone (demo / DEBUG only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--last", metavar="PHONE", required=True, help="the phone number, as typed")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.DEBUG or sms_backend_name() == "console"):
            raise CommandError("sms_outbox only works with DEBUG=True or ALLOT_SMS_BACKEND=console (a demo).")
        try:
            message = sms_last(phone=options["last"])
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None
        if message is None:
            raise CommandError("No message to this phone.")
        when = timezone.localtime(message.created_at).strftime("%Y-%m-%d %H:%M:%S")
        state = "sent" if message.sent_at else "queued"
        self.stdout.write(f"DEMO ONLY · {when} · {message.phone_masked} · {message.purpose} · {state}")
        self.stdout.write(sms_text(message))
