"""One-time codes: 6 digits from ``secrets``, sent by SMS to the phone on file, single use, valid 10 minutes, at
most 5 tries, bound to that phone (blind index), to a purpose and to a scope (e.g. a campaign).

``otp_issue`` behaves the same whether or not there is a person to send to: it always draws a code, hashes it,
writes a ``OneTimeCode`` row and seals an SMS body; without a person the row can never be verified and the SMS
INSERT is rolled back. A client cannot tell the two apart from the response or its timing."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Callable

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.core.errors import DomainError
from allot.identity import crypto
from allot.identity.models import Person
from allot.verification.models import OTP_MAX_ATTEMPTS, OneTimeCode, SmsMessage
from allot.verification.sms import Recipient, sms_queue, sms_queue_dummy

CODE_DIGITS = 6
CODE_TTL = dt.timedelta(minutes=10)
_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _hash(token: str, code: str) -> str:
    return crypto.blind_index(f"{token}:{code}", purpose="otp_code")


def _new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def otp_issue(*, purpose: str, scope: str, person: Person | None, text: Callable[[str], str],
              send: bool = True, now: dt.datetime | None = None) -> OneTimeCode:
    """Issue a code for ``person`` (``None``: nobody, see the module docstring) and queue the SMS ``text(code)``
    to their phone on file, unless ``send`` is False (a send limit was reached: the code is then useless)."""
    now = now or timezone.now()
    token, code = secrets.token_urlsafe(24), _new_code()
    row = OneTimeCode.objects.create(
        token=token, purpose=purpose, scope=scope, person=person,
        phone_index=person.phone_index if person is not None else "", code_hash=_hash(token, code),
        expires_at=now + CODE_TTL)
    if person is not None and send:
        sms_queue(recipient=Recipient.of_person(person), purpose=SmsMessage.Purpose.OTP, text=text(code))
    else:
        sms_queue_dummy(text=text(code))
    return row


def _invalid(left: int) -> DomainError:
    return DomainError(_("This code is not right. You can try %(left)d more time(s), then ask for a new code.")
                       % {"left": left}, code="code_invalid", field="code")


def otp_verify(*, token: str, code: str, purpose: str, scope: str, now: dt.datetime | None = None) -> Person:
    """The person the code was sent to, or ``DomainError`` (field ``code``): code_invalid, code_expired,
    code_attempts_exceeded (429). Every call with a live token uses up one of its tries."""
    now = now or timezone.now()
    live = OneTimeCode.objects.filter(token=token, purpose=purpose, scope=scope, used_at__isnull=True,
                                      expires_at__gt=now, attempts__lt=OTP_MAX_ATTEMPTS)
    counted = bool(token) and live.update(attempts=F("attempts") + 1) == 1
    row = (OneTimeCode.objects.select_related("person").filter(token=token, purpose=purpose, scope=scope).first()
           if token else None)
    typed = "".join((code or "").translate(_DIGITS).split())
    expected = _hash(token or "-", typed)  # computed on every path
    if row is None or row.used_at is not None:
        raise DomainError(_("This code is no longer valid. Ask for a new code."), code="code_expired",
                          field="code")
    if not counted:
        if row.expires_at <= now:
            raise DomainError(_("This code has expired. Ask for a new code."), code="code_expired", field="code")
        raise DomainError(_("Too many wrong codes. Ask for a new code."), code="code_attempts_exceeded",
                          field="code", status=429)
    ok = hmac.compare_digest(row.code_hash, expected)
    person = row.person
    if not ok or person is None or person.phone_index != row.phone_index:
        raise _invalid(OTP_MAX_ATTEMPTS - row.attempts)
    if OneTimeCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now) != 1:
        raise _invalid(0)
    return person


def otp_purge(*, now: dt.datetime | None = None) -> int:
    """Drop codes a day after they expired (kept that long to answer 'my code did not work')."""
    return OneTimeCode.objects.filter(expires_at__lt=(now or timezone.now()) - dt.timedelta(days=1)).delete()[0]
