"""Scheduled jobs of first-come campaigns (registered in ``allot.worker.jobs.JOBS``)."""

from __future__ import annotations

import datetime as dt
import logging

from allot.firstcome.services import days_prepare, undeliverable_units_return

logger = logging.getLogger("allot.worker")


def job_firstcome_days(now: dt.datetime) -> int:
    """Open today's quotas from the plans and load them into Redis (again, after a Redis restart)."""
    return days_prepare(now=now)


def job_undeliverable_returns(now: dt.datetime) -> int:
    """Undeliverable parcels give their unit to the next day's quota of their area."""
    n = undeliverable_units_return(now=now)
    if n:
        logger.info("%s undeliverable parcel(s) returned their unit to the next day's quota", n)
    return n
