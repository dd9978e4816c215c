"""Scheduled jobs. Each job takes a database lease first, so that with several workers it runs once; each job
is also idempotent on its own (a draw that is already published does nothing)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from allot.campaigns.selectors import rounds_due
from allot.core.errors import DomainError
from allot.core.locking import lease_acquire, lease_release
from allot.draws.services import draw_advance
from allot.firstcome.jobs import job_firstcome_days, job_undeliverable_returns
from allot.privacy.retention import job_retention
from allot.verification.jobs import job_sms

logger = logging.getLogger("allot.worker")


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: int
    run: Callable[[dt.datetime], int]


def job_draws(now: dt.datetime) -> int:
    """Advance every due round's draw (commit at draw time, finish when notary digits and beacon are in)."""
    done = 0
    for round_ in rounds_due(now):
        try:
            d = draw_advance(round_=round_, now=now)
        except DomainError as exc:
            logger.warning("draw %s not advanced: %s (%s)", round_.draw_id, exc.message, exc.code)
            continue
        if d is not None:
            done += 1
            logger.info("draw %s: %s", d.draw_id, d.state)
    return done


JOBS = [Job("draws", 10, job_draws), Job("sms", 2, job_sms)]
JOBS.append(Job("retention", 3600, job_retention))  # personal data erased after each campaign's retention
JOBS += [Job("firstcome_days", 30, job_firstcome_days), Job("delivery_returns", 60, job_undeliverable_returns)]


def run_due_jobs(*, holder: str, last_run: dict[str, dt.datetime], now: dt.datetime | None = None) -> list[str]:
    """Run each job whose interval has passed, under its lease. Returns the names of the jobs run."""
    now = now or timezone.now()
    ran = []
    for job in JOBS:
        previous = last_run.get(job.name)
        if previous is not None and (now - previous).total_seconds() < job.every_seconds:
            continue
        lease = f"job:{job.name}"
        if not lease_acquire(name=lease, holder=holder, seconds=max(60, job.every_seconds * 6), now=now):
            continue
        try:
            job.run(now)
            ran.append(job.name)
        finally:
            lease_release(name=lease, holder=holder)
            last_run[job.name] = now
    return ran
