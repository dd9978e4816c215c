"""Domain errors: a stable machine code plus a translatable message.

Every interface (pages, JSON API, SMS, management commands) maps a ``DomainError`` the same way, so the
same problem carries the same code on every channel (pretix ``CheckInError(msg, code)``, saleor error codes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.functional import Promise


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field. ``message`` is a lazy translation (zh-Hans and English)."""

    field: str
    code: str
    message: str | Promise

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": str(self.message)}


class DomainError(Exception):
    """A rule of the domain said no. ``status`` is the HTTP status interfaces should use."""

    code: str = "error"
    status: int = 400

    def __init__(self, message: str | Promise, *, code: str | None = None, field: str = "",
                 status: int | None = None, params: dict[str, object] | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field
        self.params = params or {}

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(field=self.field, code=self.code, message=self.message)]


class ValidationFailed(DomainError):
    """Several field errors at once (a form or API body with more than one problem)."""

    code = "invalid"
    status = 400

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e.message) for e in errors), code=errors[0].code if errors else "invalid")
        self._errors = errors

    @property
    def errors(self) -> list[FieldError]:
        return list(self._errors)


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class PermissionDenied(DomainError):
    code = "forbidden"
    status = 403


@dataclass
class ErrorCollector:
    """Collects field errors during validation and raises them together."""

    errors: list[FieldError] = field(default_factory=list)

    def add(self, field_name: str, code: str, message: str | Promise) -> None:
        self.errors.append(FieldError(field=field_name, code=code, message=message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)
