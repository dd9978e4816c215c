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
