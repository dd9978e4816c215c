"""WSGI entry point (served by gunicorn; Django's WSGI path measured ~6× faster than ASGI here)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_application = get_wsgi_application()

from allot.api.v1.claim_fast import ClaimFastWSGI  # noqa: E402  (after Django is set up)
from allot.core.admission import AdmissionWSGI  # noqa: E402
from allot.core.lean import LeanWSGIHandler  # noqa: E402

# the in-flight cap, the waiting room (allot.core.waitroom) and the replay of known refusals of the API claim
# paths, before Django builds a request; an admitted API claim is answered by the fast lane (allot.api.v1.claim_fast)
# or, where only Django can answer it alike, by a Django handler with a short middleware chain (allot.core.lean);
# everything else goes through the full one
application = AdmissionWSGI(django_application, api_app=ClaimFastWSGI(LeanWSGIHandler()))
