"""The worker job of this app (listed in allot/worker/jobs.py)."""

from __future__ import annotations

import datetime as dt

from allot.verification.otp import otp_purge
from allot.verification.proof import used_challenges_purge
from allot.verification.ratelimit import rate_counters_purge
from allot.verification.sms import sms_outbox_drain, sms_outbox_purge


def job_sms(now: dt.datetime) -> int:
    """Send the SMS outbox; forget expired challenges, counters and codes."""
    sent = sms_outbox_drain(now=now)
    used_challenges_purge(now=now)
    rate_counters_purge(now=now)
    otp_purge(now=now)
    sms_outbox_purge(now=now)
    return sent
