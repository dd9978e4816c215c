"""The SMS outbox: written with the registration, sent by the worker after commit, read in a demo only through
a management command (issue 5 item 6)."""

from __future__ import annotations

import logging

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from allot.registrations.models import Registration
from allot.verification.jobs import job_sms
from allot.verification.models import SmsMessage
from allot.verification.sms import ConsoleSmsSender, LoggingSmsSender, sms_outbox_drain
from allot.worker.jobs import JOBS
from tests.abuse.proof import solved
from tests.conftest import make_phone, registration_request


def _register(xiamen, n: int = 1) -> Registration:
    from allot.registrations.services import registration_submit
    from allot.verification.ratelimit import Client

    registration_submit(campaign=xiamen.campaign, request=registration_request(n), proof=solved(),
                        client=Client("10.0.0.1", "s"))
    return Registration.objects.get(person__phone_masked=f"139****{n:04d}")


def test_the_confirmation_is_queued_sealed_with_the_registration(xiamen):
    reg = _register(xiamen)

    message = SmsMessage.objects.get()
    assert message.sent_at is None and message.phone_masked == "139****0001"
    assert reg.number not in message.body_sealed and "13900000001" not in message.phone_sealed


def test_the_worker_job_sends_each_message_once(xiamen):
    _register(xiamen)

    assert job_sms(timezone.now()) == 1
    assert job_sms(timezone.now()) == 0
    assert SmsMessage.objects.get().sent_at is not None
    assert any(job.name == "sms" for job in JOBS)


def test_console_sender_prints_the_text_with_a_masked_phone_marked_as_demo(xiamen, caplog):
    reg = _register(xiamen)

    with caplog.at_level(logging.INFO, logger="allot.sms"):
        sms_outbox_drain(sender=ConsoleSmsSender())

    assert "DEMO SMS, NOT SENT" in caplog.text and reg.number in caplog.text
    assert "139****0001" in caplog.text and "13900000001" not in caplog.text


def test_logging_sender_never_logs_the_text(xiamen, caplog):
    reg = _register(xiamen)

    with caplog.at_level(logging.INFO, logger="allot.sms"):
        sms_outbox_drain(sender=LoggingSmsSender())

    assert "139****0001" in caplog.text and reg.number not in caplog.text


def test_the_demo_command_reads_the_last_message_only_with_the_console_backend(xiamen, settings, capsys):
    reg = _register(xiamen)
    settings.DEBUG, settings.ALLOT_SMS_BACKEND = False, "logging"
    with pytest.raises(CommandError):
        call_command("sms_outbox", "--last", make_phone(1))

    settings.ALLOT_SMS_BACKEND = "console"
    call_command("sms_outbox", "--last", "139 0000 0001")

    out = capsys.readouterr().out
    assert "DEMO ONLY" in out and reg.number in out


def test_no_url_serves_the_outbox(xiamen, client):
    from django.urls import get_resolver

    patterns = str(get_resolver().reverse_dict.keys())
    assert "sms" not in patterns.lower() and "outbox" not in patterns.lower()


def test_sent_messages_are_forgotten_after_a_week_unsent_ones_are_kept(xiamen):
    import datetime as dt

    from allot.verification.sms import sms_outbox_purge

    _register(xiamen, 1)
    _register(xiamen, 2)
    now = timezone.now()
    sms_outbox_drain(now=now, limit=1)  # one sent, one still waiting
    later = now + dt.timedelta(days=8)

    assert sms_outbox_purge(now=later) == 1
    assert SmsMessage.objects.get().sent_at is None
