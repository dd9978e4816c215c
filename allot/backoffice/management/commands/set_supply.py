from __future__ import annotations

import datetime as dt
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from allot.backoffice.management.commands._base import command_error
from allot.campaigns.models import Campaign
from allot.campaigns.services import round_get_or_create, supply_set
from allot.core.errors import DomainError
from allot.places.models import Outlet


class Command(BaseCommand):
    help = "Release (or correct) an outlet's supply, in winner packs, for the round drawn on DATE."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("campaign", help="campaign slug")
        parser.add_argument("date", type=dt.date.fromisoformat, help="draw date, YYYY-MM-DD")
        parser.add_argument("outlet", help="outlet code")
        parser.add_argument("packs", type=int, help="winner packs (one pack = the per-person limit)")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        outlet = Outlet.objects.filter(code=options["outlet"]).first()
        if campaign is None or outlet is None:
            raise CommandError("unknown campaign" if campaign is None else "unknown outlet")
        if options["packs"] < 0:
            raise CommandError("packs must be 0 or more")
        try:
            round_ = round_get_or_create(campaign=campaign, draw_date=options["date"])
            supply = supply_set(round_=round_, outlet=outlet, packs=options["packs"])
        except DomainError as exc:
            raise command_error(exc) from exc
        self.stdout.write(f"{round_.draw_id} {outlet.code}: {supply.packs} packs "
                          f"({supply.packs * campaign.units_per_winner} {campaign.unit_label})")
