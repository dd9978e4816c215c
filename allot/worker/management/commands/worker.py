"""Run the scheduler loop: `manage.py worker` (started beside the web server by `make demo`)."""

from __future__ import annotations

import os
import signal
import socket
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

from allot.worker.jobs import run_due_jobs


class Command(BaseCommand):
    help = "Run scheduled jobs (draws). Safe to start several: a database lease makes each job run once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="run due jobs once and exit")
        parser.add_argument("--tick", type=float, default=2.0, help="seconds between checks")

    def handle(self, *args: Any, **options: Any) -> None:
        holder = f"{socket.gethostname()}:{os.getpid()}"
        last: dict = {}
        stop = False

        def _stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.stdout.write(f"worker {holder} started")
        while not stop:
            ran = run_due_jobs(holder=holder, last_run=last)
            if ran and options["verbosity"] > 1:
                self.stdout.write(f"ran: {', '.join(ran)}")
            if options["once"]:
                break
            time.sleep(options["tick"])
        self.stdout.write(f"worker {holder} stopped")
