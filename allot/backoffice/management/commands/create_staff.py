from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from allot.backoffice.management.commands._base import command_error
from allot.core.errors import DomainError
from allot.staff.models import StaffProfile
from allot.staff.services import staff_account_upsert


class Command(BaseCommand):
    help = "Create or update a staff account: operator, notary, clerk (bound to one outlet) or committee."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=StaffProfile.Role.values)
        parser.add_argument("--outlet", default="", help="outlet code (required for a clerk)")
        parser.add_argument("--campaign", action="append", default=[], help="campaign slug (repeatable)")
        parser.add_argument("--password", default="", help="default: a random password, printed once")
        parser.add_argument("--superuser", action="store_true", help="also a Django admin superuser")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            account = staff_account_upsert(username=options["username"], role=options["role"],
                                           outlet_code=options["outlet"], password=options["password"],
                                           campaign_slugs=options["campaign"], superuser=options["superuser"])
        except DomainError as exc:
            raise command_error(exc) from exc
        verb = "created" if account.created else "updated"
        self.stdout.write(f"{verb} {account.user.get_username()} ({account.profile.role})")
        if not options["password"]:
            self.stdout.write(f"password: {account.password}")
