from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from allot.backoffice.management.commands._base import command_error
from allot.campaigns.models import Campaign
from allot.core.errors import DomainError
from allot.draws.services import draw_run_now, draw_verify


class Command(BaseCommand):
    help = ("Demo: draw the campaign's current round now and open its pickup window (synthetic beacon "
            "campaigns only; not a public beacon).")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("campaign", help="campaign slug, e.g. xiamen-masks")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"unknown campaign {options['campaign']}")
        try:
            draw = draw_run_now(campaign=campaign)
        except DomainError as exc:
            raise command_error(exc) from exc
        if draw.verified_at is None:  # outside a request the on-commit verification may not have run yet
            draw = draw_verify(draw=draw)
        self.stdout.write(f"draw: {draw.draw_id}")
        self.stdout.write(f"entries: {draw.entries}")
        self.stdout.write(f"winners: {draw.winners}")
        self.stdout.write(f"verify: {draw.verify_summary}")
