"""The one place where errors become HTTP responses.

Every failure of the API has the body ``{"errors": [{"field", "code", "message"}]}``: a domain rule saying no
(``DomainError``, status ``exc.status``), a request that does not parse (ninja's validation errors, mapped
from 422 to 400), a missing or bad token (401 ``unauthenticated``) and too many requests (429 ``throttled``).
Clients branch on ``code``; people read ``message``, which follows the request language.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from allot.core.errors import DomainError, FieldError


class FieldErrorOut(Schema):
    field: str
    code: str
    message: str


class ErrorsOut(Schema):
    """Every error response: one or more problems, each naming the input field ('' for the whole request)."""

    errors: list[FieldErrorOut]


# Pydantic error types -> (stable code, message). Anything not listed is "invalid" with a generic message.
_PYDANTIC: dict[str, tuple[str, str | Promise]] = {
    "missing": ("missing", _("This field is required.")),
    "extra_forbidden": ("unexpected_field", _("Unknown field: remove it from the request.")),
    "string_type": ("invalid", _("Enter text here.")),
    "bool_type": ("invalid", _("Enter true or false.")),
    "bool_parsing": ("invalid", _("Enter true or false.")),
    "float_type": ("invalid", _("Enter a number.")),
    "float_parsing": ("invalid", _("Enter a number.")),
    "int_type": ("invalid", _("Enter a whole number.")),
    "int_parsing": ("invalid", _("Enter a whole number.")),
    "finite_number": ("invalid", _("Enter a number.")),
    "greater_than_equal": ("invalid", _("This value is out of range.")),
    "less_than_equal": ("invalid", _("This value is out of range.")),
    "greater_than": ("invalid", _("This value is out of range.")),
    "less_than": ("invalid", _("This value is out of range.")),
    "string_too_long": ("too_long", _("This value is too long.")),
    "string_too_short": ("invalid", _("This value is too short.")),
    "model_type": ("invalid_body", _("Send a JSON object.")),
    "model_attributes_type": ("invalid_body", _("Send a JSON object.")),
    "dict_type": ("invalid_body", _("Send a JSON object.")),
}
_INVALID: str | Promise = _("This value is not valid.")
_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}


def _field_name(loc: Iterable[Any]) -> str:
    """``("body", "payload", "name")`` -> ``"name"``; ``("query", "lat")`` -> ``"lat"``."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
        if parts and parts[0] == "payload":  # the name of the body argument of every operation
            parts = parts[1:]
    return ".".join(parts)


def field_errors_from_validation(errors: list[dict[str, Any]]) -> list[FieldError]:
    out = []
    for err in errors:
        code, message = _PYDANTIC.get(str(err.get("type", "")), ("invalid", _INVALID))
        out.append(FieldError(field=_field_name(err.get("loc", ())), code=code, message=message))
    return out


def _respond(api: NinjaAPI, request: HttpRequest, errors: list[FieldError], status: int) -> HttpResponse:
    return api.create_response(request, {"errors": [e.as_dict() for e in errors]}, status=status)


def install_error_handlers(api: NinjaAPI) -> None:
    """Register the handlers on ``api`` (ninja looks handlers up along the exception's MRO)."""

    @api.exception_handler(DomainError)
    def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return _respond(api, request, exc.errors, exc.status)

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return _respond(api, request, field_errors_from_validation(exc.errors), 400)

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        message = _("Sign in first: send the header 'Authorization: Bearer <token>' with a token from "
                    "POST /api/v1/auth/token. Tokens expire after 12 hours and when the password changes.")
        error = FieldError(field="", code="unauthenticated", message=message)
        response = _respond(api, request, [error], 401)
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(Throttled)
    def throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
        message = _("Too many requests. Please wait a minute and try again.")
        response = _respond(api, request, [FieldError(field="", code="throttled", message=message)], 429)
        if exc.wait:
            response["Retry-After"] = str(int(exc.wait))
        return response

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        # ninja raises HttpError(400) when the body is not JSON; nothing else in this API raises it.
        if exc.status_code == 400:
            return _respond(api, request, [FieldError(
                field="", code="invalid_json", message=_("The request body is not valid JSON."))], 400)
        return _respond(api, request, [FieldError(field="", code="error", message=str(exc))], exc.status_code)

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return _respond(api, request, [FieldError(field="", code="not_found", message=_("Not found."))], 404)
