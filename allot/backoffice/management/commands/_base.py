"""Shared by the back-office commands: a domain error becomes a ``CommandError`` with its code."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from allot.core.errors import DomainError


def command_error(exc: DomainError) -> CommandError:
    details = "; ".join(f"{e.field or '-'}: {e.message} ({e.code})" for e in exc.errors)
    return CommandError(details)


def read_text(path: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CommandError(f"{path}: not UTF-8 or GB18030 text")
