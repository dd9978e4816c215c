"""Settings read on every claim, read from Django's settings once and again after a setting changes.

Django's ``settings`` object is a lazy proxy: an attribute costs ~0.3 µs, and ``getattr(settings, NAME, default)``
for a setting that is not defined ~1.5 µs (an exception raised and caught). A first-come claim read ~40 of them
(bench/README.md, sixth session). ``setting`` keeps what it read until Django's ``setting_changed`` signal (sent by
``override_settings`` and pytest-django's ``settings`` fixture) clears it: settings come from the environment at
start-up and do not change while the process runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

_MISSING = object()
_values: dict[str, Any] = {}


def setting(name: str, default: Any = None) -> Any:
    """``getattr(settings, name, default)``, remembered."""
    try:
        value = _values[name]
    except KeyError:
        value = _values[name] = getattr(settings, name, _MISSING)
    return default if value is _MISSING else value


def _forget(**_kwargs: Any) -> None:
    _values.clear()


setting_changed.connect(_forget)
