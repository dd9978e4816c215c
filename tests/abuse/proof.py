"""Real proof-of-work solutions for tests (difficulty ALLOT_ALTCHA_MAX_NUMBER=8 in config/settings/test.py), and
reading what the SMS outbox holds."""

from __future__ import annotations

import re

from allot.verification.proof import challenge_create, challenge_solve


def solved(purpose: str = "register") -> str:
    """A freshly issued challenge, solved by brute force like a client does."""
    return challenge_solve(challenge_create(purpose=purpose))


def sms_texts(phone: str) -> list[str]:
    """Every message queued for ``phone`` (as typed), oldest first."""
    from allot.identity import validation
    from allot.identity.services import phone_index
    from allot.verification.models import SmsMessage
    from allot.verification.sms import sms_text

    rows = SmsMessage.objects.filter(phone_index=phone_index(validation.normalize_phone(phone))).order_by("pk")
    return [sms_text(m) for m in rows]


def last_code(phone: str) -> str:
    """The one-time code in the newest SMS to ``phone``."""
    texts = [t for t in sms_texts(phone) if re.search(r"\b\d{6}\b", t)]
    assert texts, f"no code sent to {phone}"
    return re.findall(r"\b(\d{6})\b", texts[-1])[-1]
