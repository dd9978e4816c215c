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


ALWAYS_ALLOWED = frozenset({"csrfmiddlewaretoken"})
YES_NO = [("yes", _("Yes")), ("no", _("No"))]


class OnlyKnownFieldsMixin:
    """Minimal collection: a POST may carry only the fields this form shows (and the CSRF token); anything
    else is refused with code ``unexpected_field`` rather than ignored."""

    def unexpected_fields(self) -> list[str]:
        form: Any = self
        if not form.is_bound:
            return []
        return sorted(set(form.data) - set(form.fields) - ALWAYS_ALLOWED)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        extra = self.unexpected_fields()
        if extra:
            raise forms.ValidationError(
                _("This form does not take these fields: %(fields)s. Reload the page and try again."),
                code="unexpected_field", params={"fields": ", ".join(extra)})
        return cleaned


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class ProofField(forms.CharField):
    """The solved proof-of-work challenge (filled in by static/allot/altcha.js)."""

    def __init__(self) -> None:
        super().__init__(required=False, max_length=4000, widget=forms.HiddenInput(attrs={"data-altcha-field": ""}))


class RegistrationForm(OnlyKnownFieldsMixin, DomainErrorsMixin, forms.Form):
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
        help_text=_("The result and your registration number are sent to this phone by SMS."),
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}))
    district = forms.CharField(required=False, widget=forms.HiddenInput)
    outlet = forms.CharField(label=_("Pharmacy"), required=False, widget=forms.Select)
    accept_any = forms.BooleanField(
        label=_("Any pharmacy in my district is fine (服从分配): if my pharmacy runs out, give me one nearby."),
        required=False)
    consent_id = forms.BooleanField(
        label=_("I agree that my resident ID number is used as described above."), required=False)
    altcha = ProofField()

    def __init__(self, *args: Any, outlet_choices: Iterable[tuple[str, str]] = (), ask_health: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = [("", str(_("— no preference: any pharmacy in the district —")))]
        choices += list(outlet_choices)
        self.fields["outlet"].widget.choices = choices
        if ask_health:
            self.fields["health_returned"] = forms.ChoiceField(
                label=_("Have you come back to the city from elsewhere in the last 14 days?"), choices=YES_NO,
                required=False, widget=forms.RadioSelect)
            self.fields["health_return_date"] = forms.CharField(
                label=_("If yes: the day you came back"), required=False, max_length=20,
                widget=forms.DateInput(attrs={"type": "date"}))
            self.fields["health_symptoms"] = forms.ChoiceField(
                label=_("Do you have a fever or a cough now?"), choices=YES_NO, required=False,
                widget=forms.RadioSelect)
            self.fields["consent_health"] = forms.BooleanField(
                label=_("I agree that my health answers are used as described above."), required=False)

    @property
    def asks_health(self) -> bool:
        return "health_returned" in self.fields

    def health_values(self) -> tuple[bool | None, str, bool | None]:
        data = self.cleaned_data
        return (_yes_no(data.get("health_returned", "")), data.get("health_return_date", "") or "",
                _yes_no(data.get("health_symptoms", "")))


class StatusLookupForm(OnlyKnownFieldsMixin, DomainErrorsMixin, forms.Form):
    id_number = forms.CharField(
        label=_("Resident ID number"), max_length=40, required=False,
        help_text=_("The ID number you registered with. We send a 6-digit code to the phone on file for it."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters",
                                      "spellcheck": "false"}))
    altcha = ProofField()


class CodeForm(OnlyKnownFieldsMixin, DomainErrorsMixin, forms.Form):
    code = forms.CharField(
        label=_("6-digit code from the SMS"), max_length=20, required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code",
                                      "spellcheck": "false"}))
