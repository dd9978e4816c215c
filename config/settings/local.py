"""The demo city on one machine. `make demo` writes a .env with freshly generated keys."""

from .base import *  # noqa: F403

ALLOT_ALLOW_SYNTHETIC_BEACON = env.bool("ALLOT_ALLOW_SYNTHETIC_BEACON", default=True)  # noqa: F405
# Demo-only helpers (manage.py demo_totp, sms_outbox --last): never on in production settings.
ALLOT_DEMO = env.bool("ALLOT_DEMO", default=True)  # noqa: F405
ALLOT_SMS_BACKEND = env.str("ALLOT_SMS_BACKEND", default="console")  # noqa: F405  demo: SMS to the worker log
