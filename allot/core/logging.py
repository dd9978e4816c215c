"""A logging filter that masks ID numbers and mainland mobile numbers in every log line (message, arguments
and traceback), as a second line of defence: code should never log them in the first place.

Installed on the handlers in ``config/settings/base.py`` (``LOGGING["filters"]["personal_data"]``).
"""

from __future__ import annotations

import logging
import re

# 18-character resident ID (17 digits + digit or X) and the old 15-digit form; not inside a longer number.
_ID18 = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
_ID15 = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{5})(\d{4})(?![0-9A-Za-z])")
# Mainland mobile numbers, with or without +86 / 86 / 0086 and separators between the groups.
_PHONE = re.compile(r"(?<![0-9])(?:(?:\+|00)?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?![0-9])")


def mask_text(text: str) -> str:
    """``350203199001010011`` → ``350203********0011``; ``+8613900000001`` → ``139****0001``."""
    text = _ID18.sub(lambda m: f"{m.group(1)}********{m.group(3)[-4:]}", text)
    text = _ID15.sub(lambda m: f"{m.group(1)}*****{m.group(3)}", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


class PersonalDataFilter(logging.Filter):
    """Rewrites the record in place with its masked text; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: mask what there is
            message = f"{record.msg} {record.args}"
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True
