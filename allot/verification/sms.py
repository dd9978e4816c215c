"""The SMS outbox and the senders that drain it.

Services write ``SmsMessage`` rows inside their own transaction (``sms_queue``); the worker job
``job_sms`` sends committed rows through the configured ``SmsSender`` and marks them sent. There is no real
SMS gateway in this project: a deployment plugs one in by naming a class in ``ALLOT_SMS_BACKEND``
(a dotted path to an ``SmsSender``). Built in:

* ``console`` (the demo): prints each message to the worker log, phone masked and the text IN FULL, marked
  ``DEMO SMS, NOT SENT``. Only for a demo: the text carries one-time codes.
* ``logging`` (default): logs that a message would be sent (masked phone, purpose, length), never the text.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from allot.identity import crypto, validation
from allot.identity.models import Person
from allot.identity.services import phone_index
from allot.verification.models import SmsMessage

logger = logging.getLogger("allot.sms")

PHONE_CONTEXT = "person.phone"  # the same context as Person.phone_sealed, so a person's token is copied as is
BODY_CONTEXT = "sms.body"
MAX_ATTEMPTS = 5


class SmsSendError(Exception):
    """A sender could not hand the message over; the job retries it later."""


class SmsSender(Protocol):
    def send(self, *, phone: str, text: str, message: SmsMessage) -> None: ...


class ConsoleSmsSender:
    """Demo only: the full text (with codes) goes to the worker log, the phone masked."""

    def send(self, *, phone: str, text: str, message: SmsMessage) -> None:
        logger.warning("DEMO SMS, NOT SENT (ALLOT_SMS_BACKEND=console) to %s [%s]: %s",
                       message.phone_masked, message.purpose, text)


class LoggingSmsSender:
    """Records that a message would go out; never logs its text (it may carry a code)."""

    def send(self, *, phone: str, text: str, message: SmsMessage) -> None:
        logger.info("sms %s to %s [%s], %d characters (no gateway configured)", message.pk,
                    message.phone_masked, message.purpose, len(text))


def sms_backend_name() -> str:
    return str(getattr(settings, "ALLOT_SMS_BACKEND", "logging") or "logging")


def sms_sender() -> SmsSender:
    name = sms_backend_name()
    if name == "console":
        return ConsoleSmsSender()
    if name == "logging":
        return LoggingSmsSender()
    sender: SmsSender = import_string(name)()
    return sender


@dataclass(frozen=True)
class Recipient:
    phone_index: str
    phone_sealed: str
    phone_masked: str

    @classmethod
    def of_person(cls, person: Person) -> Recipient:
        """The phone on file."""
        return cls(person.phone_index, person.phone_sealed, person.phone_masked)

    @classmethod
    def of_phone(cls, phone: str) -> Recipient:
        """A normalised phone number as typed."""
        return cls(phone_index(phone), crypto.seal(phone, context=PHONE_CONTEXT), validation.mask_phone(phone))


def sms_queue(*, recipient: Recipient, purpose: str, text: str) -> SmsMessage:
    """Put a message in the outbox (in the caller's transaction: it goes out only if that commits)."""
    return SmsMessage.objects.create(purpose=purpose, phone_index=recipient.phone_index,
                                     phone_sealed=recipient.phone_sealed, phone_masked=recipient.phone_masked,
                                     body_sealed=crypto.seal(text, context=BODY_CONTEXT))


_NOBODY = Recipient("0" * 64, "-", "-")


class _Discard(Exception):
    pass


def sms_queue_dummy(*, text: str) -> None:
    """The same sealing and the same INSERT as ``sms_queue``, rolled back: used where nobody is to be told, so
    that the response takes as long as when someone is (no timing oracle)."""
    try:
        with transaction.atomic():
            sms_queue(recipient=_NOBODY, purpose=SmsMessage.Purpose.OTP, text=text)
            raise _Discard
    except _Discard:
        pass


def sms_text(message: SmsMessage) -> str:
    return crypto.unseal(message.body_sealed, context=BODY_CONTEXT)


def sms_outbox_drain(*, now: dt.datetime | None = None, limit: int = 200,
                     sender: SmsSender | None = None) -> int:
    """Send committed, unsent messages, oldest first; returns how many went out. Safe to run concurrently on
    PostgreSQL (rows are claimed with SKIP LOCKED) and to retry (a sent row is never sent again)."""
    now = now or timezone.now()
    sender = sender or sms_sender()
    sent = 0
    with transaction.atomic():
        rows = list(SmsMessage.objects.select_for_update(skip_locked=True)
                    .filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS).order_by("created_at", "pk")[:limit])
        for message in rows:
            try:
                sender.send(phone=crypto.unseal(message.phone_sealed, context=PHONE_CONTEXT),
                            text=sms_text(message), message=message)
            except SmsSendError as exc:
                message.attempts += 1
                message.last_error = str(exc)[:200]
                message.save(update_fields=["attempts", "last_error"])
                continue
            message.sent_at = now
            message.attempts += 1
            message.save(update_fields=["sent_at", "attempts"])
            sent += 1
    return sent


def sms_outbox_purge(*, now: dt.datetime | None = None) -> int:
    """Forget messages ``ALLOT_SMS_KEEP_DAYS`` (default 7) after they were sent or given up on: the outbox is a
    delivery queue, not an archive of who was told what."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=getattr(settings, "ALLOT_SMS_KEEP_DAYS", 7))
    done = SmsMessage.objects.filter(created_at__lt=cutoff).filter(
        Q(sent_at__isnull=False) | Q(attempts__gte=MAX_ATTEMPTS))
    deleted, _detail = done.delete()
    return deleted


def sms_last(*, phone: str) -> SmsMessage | None:
    """The newest message to a phone (normalised or as typed), for the demo command and tests."""
    return (SmsMessage.objects.filter(phone_index=phone_index(validation.normalize_phone(phone)))
            .order_by("-created_at", "-pk").first())
