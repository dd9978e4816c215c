"""Staff forms: they parse what was typed or uploaded; the rules live in the domain services."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot.campaigns.models import Campaign
from allot.identity.models import EligibilityList
from allot.staff.services import login_locked_until

MAX_CSV_BYTES = 50 * 1024 * 1024


def new_nonce() -> str:
    """A fresh value per rendered redeem form: a double submit of that form carries the same nonce."""
    return secrets.token_urlsafe(18)


class RedeemForm(forms.Form):
    code = forms.CharField(
        label=_("Pickup code"), max_length=40, required=False,
        widget=forms.TextInput(attrs={
            "autofocus": True, "autocapitalize": "characters", "inputmode": "text", "autocomplete": "off",
            "autocorrect": "off", "spellcheck": "false", "class": "bo-code-input", "id": "id_code",
            "placeholder": "ABCDE-FGHJK"}))
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)


class NotaryDigitsForm(forms.Form):
    digits = forms.CharField(
        label=_("Digits drawn on camera"), max_length=64,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "autofocus": True}))


class BeaconForm(forms.Form):
    round = forms.IntegerField(label=_("Beacon round"), min_value=1)
    signature = forms.CharField(
        label=_("Signature (hex)"), max_length=1024,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}))
    randomness = forms.CharField(label=_("Randomness (hex, optional)"), max_length=128, required=False)


class EligibilityUploadForm(forms.Form):
    eligibility_list = forms.ModelChoiceField(queryset=EligibilityList.objects.none(),
                                              label=_("Eligibility list"))
    file = forms.FileField(label=_("CSV file with an id_number column"))
    replace = forms.BooleanField(
        label=_("Replace: remove entries that are not in this file"), required=False)

    def __init__(self, *args: Any, lists: QuerySet[EligibilityList], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["eligibility_list"].queryset = lists  # type: ignore[attr-defined]

    def clean_file(self) -> str:
        """The upload as text: UTF-8 (with or without BOM), else GB18030 as Chinese spreadsheets save."""
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CSV_BYTES:
            raise forms.ValidationError(_("The file is larger than 50 MB."), code="file_too_large")
        raw = upload.read()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
        raise forms.ValidationError(_("The file must be a CSV saved as UTF-8 or GB18030."),
                                    code="file_encoding")


class PlacesImportForm(forms.Form):
    """Admin: import outlets, or streets and committees, from an operator's CSV."""

    KIND_OUTLETS = "outlets"
    KIND_PLACES = "places"
    kind = forms.ChoiceField(label=_("What the file contains"), choices=[
        (KIND_OUTLETS, _("Outlets: code,name,district_code,address,latitude,longitude,opening_hours"
                         "[,phone,status]")),
        (KIND_PLACES, _("Streets and committees: district_code,street_code,street_name,committee_code,"
                        "committee_name")),
    ])
    file = forms.FileField(label=_("CSV file"))

    clean_file = EligibilityUploadForm.clean_file


class StaffLoginForm(AuthenticationForm):
    """Django's login form, plus the lockout message: after too many wrong passwords the username is locked for
    a while (the message is the same whether or not the account exists)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": _("Too many failed attempts. Try again after %(until)s."),
    }

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except forms.ValidationError:
            until = login_locked_until(username=self.cleaned_data.get("username") or "")
            if until is not None:
                raise forms.ValidationError(
                    self.error_messages["locked"], code="locked",
                    params={"until": timezone.localtime(until).strftime("%H:%M:%S")}) from None
            raise


class OtpTokenForm(forms.Form):
    token = forms.CharField(
        label=_("6-digit code from your authenticator app"), min_length=6, max_length=8,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}))


class RegistrationFindForm(forms.Form):
    number = forms.CharField(label=_("Registration number"), max_length=20,
                             widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}))


class PurposeForm(forms.Form):
    purpose = forms.CharField(
        label=_("Purpose (recorded in the access log)"), min_length=10, max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}))


class ExportRequestForm(PurposeForm):
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.none(), label=_("Campaign"))
    field_order = ["campaign", "purpose"]

    def __init__(self, *args: Any, campaigns: QuerySet[Campaign], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = campaigns  # type: ignore[attr-defined]


class ManifestDayForm(forms.Form):
    """The day (and optionally one status) of the manifest page, from the query string."""

    day = forms.DateField(label=_("Day"), required=False, input_formats=["%Y-%m-%d"],
                          widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    status = forms.ChoiceField(label=_("Parcels with status"), required=False)

    def __init__(self, *args: Any, statuses: list[tuple[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("all")), *statuses]  # type: ignore[attr-defined]


class ManifestDownloadForm(PurposeForm):
    """One download: the pressed button names the courier, the district ("" = all it serves) and the format as
    ``courier|district|format``."""

    day = forms.DateField(widget=forms.HiddenInput, input_formats=["%Y-%m-%d"])
    download = forms.RegexField(regex=r"^[-a-zA-Z0-9_]{1,40}\|[0-9]{0,6}\|(csv|xlsx)$", max_length=60)

    def clean_download(self) -> tuple[str, str, str]:
        courier, district, fmt = self.cleaned_data["download"].split("|")
        return courier, district, fmt
