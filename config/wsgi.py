"""WSGI entry point: Django, with the admission wrapper and the fast lane of the claim API in front.

Served as it is by ``granian --interface wsgi`` or gunicorn; ``config/asgi.py`` serves it too, behind the claim
lane (what ``make demo`` and bench/surge.py serve; docs/adr/0012-claim-lane.md). Django's own ASGI handler is not
used: its path measured ~6× slower than its WSGI path here."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_application = get_wsgi_application()

from allot.api.v1.claim_fast import ClaimFastWSGI  # noqa: E402  (after Django is set up)
from allot.core.admission import AdmissionWSGI  # noqa: E402
from allot.core.lean import LeanWSGIHandler  # noqa: E402
from allot.core.runtime import gc_tune  # noqa: E402
from allot.identity.validation import data_load  # noqa: E402

# the in-flight cap, the waiting room (allot.core.waitroom) and the replay of known refusals of the API claim
# paths, before Django builds a request; an admitted API claim is answered by the fast lane (allot.api.v1.claim_fast)
# or, where only Django can answer it alike, by a Django handler with a short middleware chain (allot.core.lean);
# everything else goes through the full one
fast_lane = ClaimFastWSGI(LeanWSGIHandler())
application = AdmissionWSGI(django_application, api_app=fast_lane)

# what a process otherwise loads with its first request, loaded now: at a campaign's opening that request is a
# claim, and the others of its process wait for it (bench/README.md, seventh session) — the URLconf and the views
# it imports (Django imports them lazily), the tables an ID number's and a phone's checks load on first use
get_resolver().url_patterns  # noqa: B018
data_load()

# last: what start-up loaded is frozen, the garbage collector's thresholds raised (ALLOT_GC_THRESHOLDS, ADR 0012)
gc_tune(settings.ALLOT_GC_THRESHOLDS)
