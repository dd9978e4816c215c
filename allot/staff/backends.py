"""Password authentication with a lockout: after ``LOCK_AFTER`` failed passwords for a username the name is
locked with exponential backoff. Every password check goes through here (the staff login page, the admin login
and the API's token endpoint), so the lockout holds on every channel."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from allot.staff.services import login_failure_record, login_locked_until, login_success_record


class LockoutModelBackend(ModelBackend):
    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        if username is None or password is None:
            return None
        if login_locked_until(username=username) is not None:
            # PermissionDenied stops every other backend too; the password is not even checked.
            raise PermissionDenied("locked")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=username)
        else:
            login_success_record(username=username)
        return user
