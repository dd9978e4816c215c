"""Shared type aliases."""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

#: Who did something: a request's user (possibly anonymous) or nobody (the scheduler).
Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None
