from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from allot.backoffice.management.commands._base import command_error, read_text
from allot.core.errors import DomainError
from allot.places.services import places_import_csv


class Command(BaseCommand):
    help = ("Import streets and neighbourhood committees from a CSV with the columns "
            "district_code,street_code,street_name,committee_code,committee_name.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="CSV file (UTF-8 or GB18030)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = places_import_csv(text=read_text(options["file"]))
        except DomainError as exc:
            raise command_error(exc) from exc
        for line in report.errors:
            self.stderr.write(line)
        self.stdout.write(f"committees: {report.created} created, {report.updated} updated, "
                          f"{len(report.errors)} lines with errors")
