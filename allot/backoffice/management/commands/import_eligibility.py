from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from allot.backoffice.management.commands._base import command_error, read_text
from allot.core.errors import DomainError
from allot.identity.models import EligibilityList
from allot.identity.services import eligibility_import_csv


class Command(BaseCommand):
    help = ("Import an eligibility list from a CSV with an id_number column. Only keyed hashes are stored. "
            "The list is created when missing.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("list_code", help="list code, e.g. xiamen-hukou")
        parser.add_argument("file", help="CSV file (UTF-8 or GB18030) with an id_number column")
        parser.add_argument("--name", default="", help="list name when the list is created")
        parser.add_argument("--replace", action="store_true", help="remove entries that are not in the file")

    def handle(self, *args: Any, **options: Any) -> None:
        text = read_text(options["file"])
        code = options["list_code"]
        target, created = EligibilityList.objects.get_or_create(code=code, defaults={"name": options["name"] or code})
        try:
            report = eligibility_import_csv(eligibility_list=target, text=text, replace=options["replace"])
        except DomainError as exc:
            raise command_error(exc) from exc
        for line in report.errors:  # "line N: <error code>", never the number itself
            self.stderr.write(line)
        target.refresh_from_db()
        self.stdout.write(f"{target.code}{' (created)' if created else ''}: {report.added} added, "
                          f"{report.already} already listed, {len(report.errors)} lines with errors, "
                          f"size {target.size}")
