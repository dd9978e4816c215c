"""Reads for draws: published draws, their files (all public: entry ids are random, nothing personal), inclusion
proofs, and the per-draw fairness report."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.db.models.functions import Length

from allot import lottery
from allot.draws.models import Draw, DrawFile
from allot.lottery.fairness import FairnessReport, Record, fairness_report
from allot.registrations.models import Registration

#: The bundle files in their canonical order (allot-draw/v1), with the content type each is served as.
CONTENT_TYPES = {
    "manifest.json": "application/json; charset=utf-8",
    "entries.jsonl": "application/x-ndjson; charset=utf-8",
    "reveal.json": "application/json; charset=utf-8",
    "results.csv": "text/csv; charset=utf-8",
}
BUNDLE_FILES: tuple[str, ...] = ("manifest.json", "entries.jsonl", "reveal.json", "results.csv")
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


def draws_public(*, campaign_slug: str | None = None) -> QuerySet[Draw]:
    """Committed and published draws, newest first, with their campaign and file names/hashes (not bytes)."""
    qs = (Draw.objects.select_related("round__campaign")
          .prefetch_related(Prefetch("files", queryset=DrawFile.objects.defer("content")))
          .order_by("-committed_at", "-pk"))
    if campaign_slug:
        qs = qs.filter(round__campaign__slug=campaign_slug)
    return qs


def draw_public(*, draw_id: str) -> Draw | None:
    return draws_public().filter(draw_id=draw_id).first()


@dataclass(frozen=True)
class FileRow:
    name: str
    sha256: str
    size: int


def draw_file_rows(*, draw: Draw) -> list[FileRow]:
    """The draw's stored files (without loading their content), in bundle order."""
    rows = {name: FileRow(name=name, sha256=sha, size=size or 0) for name, sha, size in
            DrawFile.objects.filter(draw=draw).annotate(size=Length("content"))
            .values_list("name", "sha256", "size")}
    return [rows[n] for n in BUNDLE_FILES if n in rows]


def draw_file_get(*, draw_id: str, name: str) -> DrawFile | None:
    if name not in CONTENT_TYPES:
        return None
    return DrawFile.objects.filter(draw__draw_id=draw_id, name=name).first()


def draw_zip_bytes(*, draw: Draw) -> bytes | None:
    """The published bundle as a zip built from the stored files: entries under ``<draw_id>/``, fixed
    timestamps, so the same draw always gives the same bytes. ``None`` unless the draw is published."""
    if draw.state != Draw.State.PUBLISHED:
        return None
    files = {f.name: bytes(f.content) for f in DrawFile.objects.filter(draw=draw, name__in=BUNDLE_FILES)}
    if set(files) != set(BUNDLE_FILES):
        return None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in BUNDLE_FILES:
            info = zipfile.ZipInfo(f"{draw.draw_id}/{name}", date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, files[name])
    return buf.getvalue()


def draw_inclusion_proof(*, draw_id: str, entry_id: str) -> bytes | None:
    """The inclusion proof of one entry in a committed draw, as canonical JSON; ``None`` if either is unknown."""
    files = dict(DrawFile.objects.filter(draw__draw_id=draw_id, name__in=("manifest.json", "entries.jsonl"))
                 .values_list("name", "content"))
    if len(files) != 2:
        return None
    commitment = lottery.load_commitment(manifest_json=bytes(files["manifest.json"]),
                                         entries_jsonl=bytes(files["entries.jsonl"]))
    try:
        return lottery.inclusion_proof_json(commitment=commitment, entry_id=entry_id)
    except lottery.DrawError as exc:
        if exc.code == "unknown_entry":
            return None
        raise


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
