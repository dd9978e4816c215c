from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _record_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from allot.staff.services import staff_session_record

    session = getattr(request, "session", None)
    if session is not None and getattr(user, "pk", None) is not None:
        if session.session_key is None:
            session.save()
        staff_session_record(user=user, session_key=session.session_key or "")


def _end_sessions_of_disabled(sender: Any, instance: Any, **kwargs: Any) -> None:
    """However an account is disabled (the admin's user page, a shell, ``staff_account_disable``), its sessions
    end with it."""
    from allot.staff.services import staff_sessions_end

    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "is_active" not in update_fields:
        return
    if not instance.is_active:
        staff_sessions_end(user=instance)


class StaffConfig(AppConfig):
    name = "allot.staff"
    label = "staff"
    verbose_name = _("Staff accounts")

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_save

        user_logged_in.connect(_record_session, dispatch_uid="allot.staff.record_session")
        post_save.connect(_end_sessions_of_disabled, sender=get_user_model(),
                          dispatch_uid="allot.staff.end_sessions_of_disabled")
