"""Forms of the resident pages. They only collect and render what the resident typed: every rule (what a
valid ID number is, which pharmacy may be chosen, consent) lives in the domain services, whose errors the
views put back next to the fields."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from allot.core.errors import FieldError


class DomainErrorsMixin:
    """Put a service's field errors on the form: on the field it names, or at the top of the form."""

    def add_domain_errors(self, errors: Iterable[FieldError]) -> None:
        form: Any = self
        for error in errors:
            known = error.field in form.fields and not form.fields[error.field].widget.is_hidden
            field = error.field if known else None
            form.add_error(field, str(error.message))
            if field is not None:
                form.fields[field].widget.attrs.update(
                    {"aria-invalid": "true", "aria-describedby": f"id_{field}_error"})


class RegistrationForm(DomainErrorsMixin, forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, required=False,
        help_text=_("As on your resident ID card."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}))
    id_number = forms.CharField(
        label=_("Resident ID number"), max_length=40, required=False,
        help_text=_("18 characters; the last one may be the letter X."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters",
                                      "spellcheck": "false"}))
    phone = forms.CharField(
        label=_("Mobile phone number"), max_length=30, required=False,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}))
    district = forms.CharField(required=False, widget=forms.HiddenInput)
    outlet = forms.CharField(label=_("Pharmacy"), required=False, widget=forms.Select)
    accept_any = forms.BooleanField(
        label=_("Any pharmacy in my district is fine (服从分配): if my pharmacy runs out, give me one nearby."),
        required=False)
    consent = forms.BooleanField(
        label=_("I have read the notice above and agree that my information is used as described."),
        required=False)

    def __init__(self, *args: Any, outlet_choices: Iterable[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = [("", str(_("— no preference: any pharmacy in the district —")))]
        choices += list(outlet_choices)
        self.fields["outlet"].widget.choices = choices


class StatusLookupForm(DomainErrorsMixin, forms.Form):
    number = forms.CharField(
        label=_("Registration number"), max_length=40, required=False,
        help_text=_("10 letters and digits, shown after you registered."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters",
                                      "spellcheck": "false"}))
    id_number = forms.CharField(
        label=_("Resident ID number"), max_length=40, required=False,
        help_text=_("The ID number you registered with."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters",
                                      "spellcheck": "false"}))
