"""Every message has a zh-Hans translation somewhere in the catalogues, and every compiled .mo matches its .po."""

from __future__ import annotations

import gettext
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parents[1] / "allot"
CATALOGUES = sorted(ROOT.glob("**/locale/zh_Hans/LC_MESSAGES/django.po"))


def _entries():
    for po_path in CATALOGUES:
        for e in polib.pofile(str(po_path)):
            if not e.obsolete:
                yield po_path, e


def test_there_are_catalogues():
    assert len(CATALOGUES) >= 10


def test_every_message_is_translated_in_some_catalogue():
    translated = {e.msgid for _p, e in _entries()
                  if "fuzzy" not in e.flags and (e.msgstr or (e.msgstr_plural and e.msgstr_plural.get(0)))}
    missing = sorted({e.msgid for _p, e in _entries()} - translated)
    assert missing == []


def test_no_message_is_left_fuzzy():
    # a fuzzy entry is not compiled, and its text is a guess gettext made from another message (once "Claim
    # number" sat here as 身份证号码, "ID number"): give it its translation and drop the flag
    fuzzy = sorted(f"{p.parent.parent.parent.parent.name}: {e.msgid}" for p, e in _entries()
                   if e.msgid and "fuzzy" in e.flags)
    assert fuzzy == []


def test_compiled_catalogues_match_their_sources():
    stale = []
    for po_path in CATALOGUES:
        with open(po_path.with_suffix(".mo"), "rb") as fh:
            mo = gettext.GNUTranslations(fh)
        for e in polib.pofile(str(po_path)):
            if e.obsolete or "fuzzy" in e.flags or not e.msgstr or e.msgid_plural:
                continue
            key = f"{e.msgctxt}\x04{e.msgid}" if e.msgctxt else e.msgid
            if mo._catalog.get(key) != e.msgstr:  # type: ignore[attr-defined]
                stale.append(f"{po_path.relative_to(ROOT)}: {e.msgid[:40]}")
    assert stale == []


def test_every_catalogue_has_its_header_filled_in_and_not_left_fuzzy():
    # makemessages writes a placeholder header marked fuzzy (PACKAGE VERSION, FULL NAME <EMAIL@ADDRESS>); msgfmt
    # leaves a fuzzy header out of the .mo unless told otherwise, and with it the plural rule of Chinese
    placeholders = []
    for po_path in CATALOGUES:
        po = polib.pofile(str(po_path))
        meta = po.metadata
        if ("fuzzy" in po.metadata_is_fuzzy or "PACKAGE" in meta.get("Project-Id-Version", "")
                or "EMAIL@ADDRESS" in meta.get("Last-Translator", "") or "LL@li.org" in meta.get("Language-Team", "")
                or meta.get("Plural-Forms") != "nplurals=1; plural=0;" or meta.get("Language") != "zh_Hans"):
            placeholders.append(str(po_path.relative_to(ROOT)))
    assert placeholders == []
