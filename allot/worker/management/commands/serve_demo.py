"""`manage.py serve_demo`: the web server and the scheduler worker side by side, for the demo city. Ctrl-C stops
both.

The server is granian serving config/asgi.py: the claim lane answers first-come API claims on an event loop and
Django runs in threads behind it (docs/adr/0012-claim-lane.md; static files through whitenoise). ``--interface
wsgi`` serves config/wsgi.py alone in granian's threads, ``--server gunicorn`` that under gunicorn (pure Python:
it took 4.4 s at the 99th percentile where granian took 68 ms in an early surge, bench/README.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the demo on http://127.0.0.1:8000 with the scheduler running."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=None,
                            help="WSGI threads per worker process (default: the admission cap + 2, a few to refuse "
                                 "with; behind the claim lane: ALLOT_WSGI_THREADS)")
        parser.add_argument("--server", choices=("granian", "gunicorn"), default="granian")
        parser.add_argument("--interface", choices=("asgi", "wsgi"), default="asgi",
                            help="granian: the claim lane with Django behind it (asgi) or Django alone (wsgi)")

    def handle(self, *args: Any, **options: Any) -> None:
        env = dict(os.environ)
        if options["threads"] is None:
            from django.conf import settings

            options["threads"] = int(getattr(settings, "ALLOT_ADMISSION_MAX_IN_FLIGHT", 12)) + 2
        host, _sep, port = options["bind"].rpartition(":")
        if options["server"] == "granian" and options["interface"] == "asgi":
            env.setdefault("ALLOT_WSGI_THREADS", str(options["threads"]))
            cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "config.asgi:application", "--loop",
                   "uvloop", "--host", host, "--port", port, "--workers", str(options["workers"]), "--no-ws",
                   "--log-level", "info"]
        elif options["server"] == "granian":
            cmd = [sys.executable, "-m", "granian", "--interface", "wsgi", "config.wsgi:application", "--host", host,
                   "--port", port, "--workers", str(options["workers"]), "--blocking-threads",
                   str(options["threads"]), "--no-ws", "--log-level", "info"]
        else:
            cmd = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", options["bind"],
                   "--workers", str(options["workers"]), "--worker-class", "gthread", "--threads",
                   str(options["threads"]), "--access-logfile", "-"]
        web = subprocess.Popen(cmd, env=env)
        worker = subprocess.Popen([sys.executable, "manage.py", "worker"], env=env)
        host = options["bind"]
        self.stdout.write(self.style.SUCCESS(f"""
allot demo city (Xiamen) is starting on http://{host}/
  resident pages   http://{host}/
  public draws     http://{host}/draws/
  staff (clerk, notary, operator)  http://{host}/staff/
  Django admin     http://{host}/admin/
  JSON API         http://{host}/api/v1/docs   (OpenAPI: /api/v1/openapi.json)
Demo logins are printed above by load_demo (operator / notary / clerk). Ctrl-C stops the server and the worker.
"""))
        procs = [web, worker]
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
