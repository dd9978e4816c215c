"""The demo city on one machine. `make demo` writes a .env with freshly generated keys."""

from .base import *  # noqa: F403

ALLOT_ALLOW_SYNTHETIC_BEACON = env.bool("ALLOT_ALLOW_SYNTHETIC_BEACON", default=True)  # noqa: F405
