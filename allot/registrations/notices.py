"""The SMS texts a registration attempt and a status lookup send. Every outcome of an attempt is told by SMS,
never in the response (see ``services.registration_submit``)."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from allot.campaigns.models import Campaign


def _when(campaign: Campaign, moment: dt.datetime) -> str:
    return moment.astimezone(campaign.tz).strftime("%Y-%m-%d %H:%M")


def _appeal(campaign: Campaign) -> str:
    return campaign.appeal_info or _("the campaign's hotline")


def registered(campaign: Campaign, *, number: str, draw_at: dt.datetime) -> str:
    return _("[%(campaign)s] Your registration is confirmed. Registration number %(number)s. Draw: %(when)s. "
             "To see the result, open \"Check my result\" and enter your ID number and the code we send you.") % {
        "campaign": campaign.name, "number": number, "when": _when(campaign, draw_at)}


def already_registered(campaign: Campaign, *, number: str, at: dt.datetime, typed_phone_masked: str) -> str:
    return _("[%(campaign)s] At %(when)s someone tried to register again with your ID number (phone "
             "%(phone)s). Your registration %(number)s stands; nothing was changed. If this was not you, "
             "contact %(appeal)s.") % {
        "campaign": campaign.name, "when": _when(campaign, at), "phone": typed_phone_masked, "number": number,
        "appeal": _appeal(campaign)}


def in_cooldown(campaign: Campaign, *, last_win: dt.date, again: dt.date) -> str:
    return _("[%(campaign)s] A registration with your ID number was not accepted: you were drawn on %(day)s, and "
             "winners can register again after %(next)s. If this was not you, contact %(appeal)s.") % {
        "campaign": campaign.name, "day": last_win, "next": again, "appeal": _appeal(campaign)}


def sent_to_phone_on_file(campaign: Campaign) -> str:
    return _("[%(campaign)s] We received a registration request with this phone number. If the ID number "
             "entered is yours, the answer has been sent to the phone number already on file for it. If you "
             "have changed phones, contact %(appeal)s.") % {
        "campaign": campaign.name, "appeal": _appeal(campaign)}


def not_eligible(campaign: Campaign, *, lists: str) -> str:
    return _("[%(campaign)s] The ID number entered is not on the lists this campaign is open to (%(lists)s), so "
             "it was not registered. If you think it should be, appeal to: %(appeal)s") % {
        "campaign": campaign.name, "lists": lists, "appeal": _appeal(campaign)}


def phone_changed(campaign: Campaign, *, at: dt.datetime, new_phone_masked: str) -> str:
    return _("[%(campaign)s] At %(when)s a registration with your ID number changed the phone on file to "
             "%(phone)s. If this was not you, contact %(appeal)s.") % {
        "campaign": campaign.name, "when": _when(campaign, at), "phone": new_phone_masked,
        "appeal": _appeal(campaign)}


def one_time_code(campaign: Campaign, *, code: str) -> str:
    return _("[%(campaign)s] Your one-time code is %(code)s. It is valid for 10 minutes. Never tell it to anyone, "
             "staff included.") % {"campaign": campaign.name, "code": code}
