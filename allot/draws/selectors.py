"""Reads for draws: published draws, their files, and the per-draw fairness report."""

from __future__ import annotations

import csv
import io
import json

from django.db.models import QuerySet

from allot.draws.models import Draw, DrawFile
from allot.lottery.fairness import FairnessReport, Record, fairness_report
from allot.registrations.models import Registration


def draws_public() -> QuerySet[Draw]:
    return Draw.objects.select_related("round__campaign").order_by("-committed_at")


def draw_file(*, draw: Draw, name: str) -> DrawFile | None:
    return DrawFile.objects.filter(draw=draw, name=name).first()


def draw_fairness(*, draw: Draw) -> FairnessReport | None:
    """Winners per submission hour (the DV-2012 detector), win rates per first-choice outlet and district.
    Only for published draws. Buckets come from registration times, which the bundle does not carry."""
    if draw.state != Draw.State.PUBLISHED:
        return None
    files = {f.name: bytes(f.content) for f in DrawFile.objects.filter(draw=draw, name__in=["entries.jsonl",
                                                                                            "results.csv"])}
    entries = {}
    for line in files["entries.jsonl"].splitlines():
        e = json.loads(line)
        entries[e["entry_id"]] = (e["district"], e["prefs"][0])
    won = {row["entry_id"]: bool(row["outlet"])
           for row in csv.DictReader(io.StringIO(files["results.csv"].decode("utf-8")))}
    tz = draw.round.campaign.tz
    buckets = {entry_id: created.astimezone(tz).strftime("%m-%d %H:00")
               for entry_id, created in Registration.objects.filter(round=draw.round)
               .values_list("entry_id", "created_at")}
    records = [Record(entry_id=i, district=d, first_pref=p, won=won.get(i, False)) for i, (d, p) in entries.items()]
    return fairness_report(records=records, buckets=buckets)
