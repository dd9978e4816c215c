"""Bearer tokens for staff API clients (a pharmacy clerk's scanner app), without a token table.

A token is ``TimestampSigner(salt="allot.api.token").sign_object({"uid", "pw"})``: signed with SECRET_KEY,
valid for 12 hours, for an active user with a staff profile; ``pw`` is a short keyed hash of the user's
password hash, so changing the password invalidates every token issued before. There is no way to revoke
a single token before it expires (that needs a token table; see the API notes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _
from ninja.security import HttpBearer

from allot.core.errors import DomainError

TOKEN_SALT = "allot.api.token"  # noqa: S105 (a signing salt, not a secret)
TOKEN_MAX_AGE = dt.timedelta(hours=12)
_PW_SALT = "allot.api.token.pw"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime
    user: AbstractBaseUser


def _password_tag(user: AbstractBaseUser) -> str:
    return salted_hmac(_PW_SALT, user.password).hexdigest()[:16]


def _has_staff_profile(user: AbstractBaseUser) -> bool:
    return getattr(user, "staff", None) is not None


def token_issue(*, request: HttpRequest, username: str, password: str) -> IssuedToken:
    """Check the credentials of an active staff user and sign a token for them."""
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active or not _has_staff_profile(user):
        raise DomainError(_("Wrong username or password, or the account is not a staff account."),
                          code="invalid_credentials", status=401)
    token = signing.TimestampSigner(salt=TOKEN_SALT).sign_object({"uid": user.pk, "pw": _password_tag(user)})
    return IssuedToken(token=token, expires_at=timezone.now() + TOKEN_MAX_AGE, user=user)


def token_user(token: str) -> AbstractBaseUser | None:
    """The active staff user a token was issued to, or None when it is forged, expired or outdated."""
    try:
        data = signing.TimestampSigner(salt=TOKEN_SALT).unsign_object(token, max_age=TOKEN_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(data, dict) and isinstance(data.get("uid"), int) and isinstance(data.get("pw"), str)):
        return None
    user = get_user_model().objects.select_related("staff").filter(pk=data["uid"], is_active=True).first()
    if user is None or not _has_staff_profile(user):
        return None
    if not constant_time_compare(data["pw"], _password_tag(user)):
        return None
    return user


class StaffToken(HttpBearer):
    """``Authorization: Bearer <token>``; ``request.auth`` is the staff user."""

    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser | None:
        return token_user(token)
