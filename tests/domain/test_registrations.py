"""registration_create / lookup / withdraw."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from allot.campaigns.models import Campaign
from allot.core.errors import Conflict, PermissionDenied, ValidationFailed
from allot.identity.models import EligibilityList, Person
from allot.identity.services import eligibility_import_csv
from allot.registrations.models import Registration
from allot.registrations.services import registration_create, registration_withdraw
from tests.conftest import make_id_number, registration_request

SH = zoneinfo.ZoneInfo("Asia/Shanghai")


def codes(exc) -> set[str]:
    return {e.code for e in exc.errors}


def test_registration_gets_random_entry_id_and_readable_number(xiamen):
    reg = registration_create(campaign=xiamen.campaign, request=registration_request(1))
    assert len(reg.entry_id) == 32 and int(reg.entry_id, 16) >= 0
    assert len(reg.number) == 10 and not set(reg.number) & set("01OI")
    assert reg.consent_version == xiamen.campaign.consent_version


def test_every_invalid_field_is_reported_at_once(xiamen):
    with pytest.raises(ValidationFailed) as exc:
        registration_create(campaign=xiamen.campaign, request=registration_request(
            1, name="", id_number="12345", phone="010-12345678", district="110101", outlet="", consent=False))
    assert codes(exc.value) == {"name_required", "id_number_format", "phone_not_mobile", "district_invalid",
                                "outlet_required", "consent_id_required"}
    assert Registration.objects.count() == 0 and Person.objects.count() == 0


def test_outlet_must_be_in_the_chosen_district(xiamen):
    with pytest.raises(ValidationFailed) as exc:
        registration_create(campaign=xiamen.campaign, request=registration_request(1, outlet="XM-HL-001"))
    assert codes(exc.value) == {"outlet_invalid"}


def test_accept_any_needs_no_outlet(xiamen):
    reg = registration_create(campaign=xiamen.campaign, request=registration_request(1, outlet="", accept_any=True))
    assert reg.accept_any and reg.outlet is None


def test_second_registration_in_the_same_round_is_refused(xiamen):
    registration_create(campaign=xiamen.campaign, request=registration_request(1))
    with pytest.raises(Conflict) as exc:
        registration_create(campaign=xiamen.campaign, request=registration_request(1, outlet="XM-SM-002"))
    assert exc.value.code == "already_registered"
    assert Registration.objects.count() == 1


def test_messy_input_is_normalised_to_the_same_person(xiamen):
    registration_create(campaign=xiamen.campaign, request=registration_request(1))
    raw = make_id_number(seq=1)
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in raw)
    with pytest.raises(Conflict):
        registration_create(campaign=xiamen.campaign, request=registration_request(
            1, id_number=" ".join([fullwidth[:6], fullwidth[6:14], fullwidth[14:]]), phone="+86 139-0000-0001"))


def test_not_on_any_eligibility_list_is_told_where_to_appeal(xiamen):
    lst = EligibilityList.objects.create(code="xm-hukou", name="厦门户籍")
    xiamen.campaign.eligibility_lists.add(lst)
    eligibility_import_csv(eligibility_list=lst, text=f"id_number\n{make_id_number(seq=2)}\n")
    with pytest.raises(PermissionDenied) as exc:
        registration_create(campaign=xiamen.campaign, request=registration_request(1))
    assert exc.value.code == "not_eligible"
    assert "12345" in str(exc.value.message) and "厦门户籍" in str(exc.value.message)
    assert registration_create(campaign=xiamen.campaign, request=registration_request(2)).pk


def test_maintenance_window_closes_registration(xiamen):
    c = xiamen.campaign
    c.maintenance_start, c.maintenance_end = dt.time(22, 0), dt.time(0, 0)
    c.save()
    late = dt.datetime(2026, 11, 25, 22, 30, tzinfo=SH)
    with pytest.raises(Conflict) as exc:
        registration_create(campaign=c, request=registration_request(1), now=late)
    assert exc.value.code == "maintenance" and exc.value.status == 503
    reg = registration_create(campaign=c, request=registration_request(1), now=late.replace(hour=21))
    assert reg.pk


def test_registration_after_draw_time_goes_to_tomorrows_round(xiamen):
    before = registration_create(campaign=xiamen.campaign, request=registration_request(1),
                                 now=dt.datetime(2026, 11, 25, 8, 59, tzinfo=SH))
    after = registration_create(campaign=xiamen.campaign, request=registration_request(2),
                                now=dt.datetime(2026, 11, 25, 9, 0, tzinfo=SH))
    assert before.round.draw_date == dt.date(2026, 11, 25)
    assert after.round.draw_date == dt.date(2026, 11, 26)


def test_inactive_campaign_refuses(xiamen):
    xiamen.campaign.status = Campaign.Status.DRAFT
    xiamen.campaign.save()
    with pytest.raises(Conflict) as exc:
        registration_create(campaign=xiamen.campaign, request=registration_request(1))
    assert exc.value.code == "campaign_closed"


def test_withdraw_before_the_draw_only(xiamen):
    reg = registration_create(campaign=xiamen.campaign, request=registration_request(1))
    assert registration_withdraw(registration=reg).status == Registration.Status.WITHDRAWN
    with pytest.raises(Conflict):
        registration_withdraw(registration=reg)


def test_registration_is_audited_without_personal_numbers(xiamen):
    from allot.core.models import AuditLog

    registration_create(campaign=xiamen.campaign, request=registration_request(1))
    row = AuditLog.objects.get(action="allot.registration.created")
    assert make_id_number(seq=1) not in str(row.data) and "13900000001" not in str(row.data)


def test_errors_speak_chinese_by_default_and_english_on_request(xiamen):
    from django.utils import translation

    for lang, expected in (("zh-hans", "请阅读身份证号码的使用说明"), ("en", "Read how your ID number is used")):
        with translation.override(lang):
            with pytest.raises(ValidationFailed) as exc:
                registration_create(campaign=xiamen.campaign, request=registration_request(1, consent=False))
            assert expected in str(exc.value.errors[0].message)


# --- minimal collection, consent and the health declaration (issue 5, items 1-2) ---------------------------

def _asking_health(xiamen):
    xiamen.campaign.ask_health = True
    xiamen.campaign.save(update_fields=["ask_health"])
    return xiamen.campaign


def _health(**over):
    from allot.registrations.services import HealthAnswers

    data = {"returned": True, "return_date": dt.datetime.now(tz=SH).date().isoformat(), "symptoms": False}
    data.update(over)
    return HealthAnswers(**data)


def test_health_answers_are_refused_when_the_campaign_does_not_ask_them(xiamen):
    # given a campaign without a health declaration
    # when a client sends health answers anyway
    with pytest.raises(ValidationFailed) as exc:
        registration_create(campaign=xiamen.campaign,
                            request=registration_request(1, health=_health(), consent_health=True))

    # then
    assert {(e.field, e.code) for e in exc.value.errors} == {("health", "unexpected_field"),
                                                             ("consent_health", "unexpected_field")}
    assert Registration.objects.count() == 0


def test_health_declaration_is_required_when_the_campaign_asks_it(xiamen):
    campaign = _asking_health(xiamen)

    with pytest.raises(ValidationFailed) as exc:
        registration_create(campaign=campaign, request=registration_request(1))

    assert codes(exc.value) == {"health_returned_required", "health_symptoms_required", "consent_health_required"}


def test_health_consent_is_separate_from_the_id_consent(xiamen):
    campaign = _asking_health(xiamen)

    with pytest.raises(ValidationFailed) as exc:
        registration_create(campaign=campaign, request=registration_request(1, health=_health()))

    assert codes(exc.value) == {"consent_health_required"}


def test_id_consent_is_required_even_with_health_consent(xiamen):
    campaign = _asking_health(xiamen)

    with pytest.raises(ValidationFailed) as exc:
        registration_create(campaign=campaign, request=registration_request(
            1, consent=False, health=_health(), consent_health=True))

    assert codes(exc.value) == {"consent_id_required"}


@pytest.mark.parametrize(("over", "code"), [
    ({"return_date": ""}, "health_return_date_required"),
    ({"return_date": "2020-13-01"}, "health_return_date_invalid"),
    ({"return_date": "2000-01-01"}, "health_return_date_invalid"),
    ({"returned": False}, "unexpected_field"),
])
def test_return_date_must_be_a_day_in_the_last_14_days_and_only_when_returned(xiamen, over, code):
    campaign = _asking_health(xiamen)

    with pytest.raises(ValidationFailed) as exc:
        registration_create(campaign=campaign,
                            request=registration_request(1, health=_health(**over), consent_health=True))

    assert codes(exc.value) == {code}
    assert exc.value.errors[0].field == "health_return_date"


def test_health_answers_are_stored_sealed_with_both_consents_timed_and_versioned(xiamen):
    from allot.registrations.selectors import registration_health

    campaign = _asking_health(xiamen)
    now = dt.datetime(2026, 11, 25, 8, 0, tzinfo=SH)

    reg = registration_create(campaign=campaign, now=now, request=registration_request(
        1, health=_health(return_date="2026-11-20", symptoms=True), consent_health=True))

    reg.refresh_from_db()
    assert reg.health_sealed.startswith("v1.") and "2026-11-20" not in reg.health_sealed
    assert "true" not in reg.health_sealed.lower()
    health = registration_health(registration=reg)
    assert (health.returned, health.return_date, health.symptoms) == (True, dt.date(2026, 11, 20), True)
    assert (reg.consent_version, reg.consent_at) == (campaign.consent_version, now)
    assert (reg.consent_health_version, reg.consent_health_at) == (campaign.consent_version, now)


def test_registration_without_health_questions_stores_no_health_consent(xiamen):
    reg = registration_create(campaign=xiamen.campaign, request=registration_request(1))

    assert (reg.health_sealed, reg.consent_health_version, reg.consent_health_at) == ("", "", None)
    assert reg.consent_at is not None
