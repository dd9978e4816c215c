"""ASGI entry point (``granian --interface asgi config.asgi:application``): the claim lane on the event loop, and
the WSGI application (config/wsgi.py) in threads for everything else (docs/adr/0012-claim-lane.md)."""

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

from config.wsgi import application as wsgi_application
from config.wsgi import fast_lane


def _lane() -> Any:
    from allot.api.v1.claim_lane import ClaimLane  # once Django is set up

    return ClaimLane(wsgi_application, fast=fast_lane)


application = _lane()
