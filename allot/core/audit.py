"""``log_action``: the one way state changes are recorded."""

from __future__ import annotations

from typing import Any

from django.db import models

from allot.core.models import AuditLog
from allot.core.rows import instance
from allot.core.types import Actor


def log_action(action: str, *, obj: models.Model | None = None, actor: Actor = None,
               actor_label: str = "", data: dict[str, Any] | None = None) -> AuditLog:
    entry = audit_entry(action, obj=obj, actor=actor, actor_label=actor_label, data=data)
    entry.save(force_insert=True)
    return entry


def audit_entry(action: str, *, obj: models.Model | None = None, actor: Actor = None,
                actor_label: str = "", data: dict[str, Any] | None = None) -> AuditLog:
    """The unsaved row ``log_action`` writes (for a hot path that inserts it with ``core.rows.row_insert``)."""
    user: Any = actor if actor is not None and actor.is_authenticated else None
    label = actor_label or (user.get_username() if user is not None else "system")
    return instance(AuditLog, {
        "action": action,
        "actor_id": user.pk if user is not None else None,
        "actor_label": label[:100],
        "object_type": obj._meta.label_lower if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None else "",
        "data": data or {},
    }, related={"actor": user} if user is not None else None)
