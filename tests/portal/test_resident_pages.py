"""The resident pages: campaign, districts, outlets, registration form, confirmation, status, withdrawal."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from allot.campaigns.selectors import local_now
from allot.draws.services import draw_run_now
from allot.registrations.models import Registration
from allot.registrations.services import registration_create
from tests.abuse.proof import last_code, sms_texts, solved
from tests.conftest import make_id_number, make_phone, registration_request

SLUG = "xiamen-masks"


def form_data(n: int = 1, **over: str) -> dict[str, str]:
    data = {"name": "张三", "id_number": make_id_number(seq=n), "phone": make_phone(n), "district": "350203",
            "outlet": "XM-SM-001", "consent_id": "on", "altcha": solved("register")}
    data.update(over)
    return data


def text(response) -> str:
    return response.content.decode()


def look_up(client: Client, reg: Registration, id_number: str):
    """The resident's way to their own record: ID number → code by SMS to the phone on file → record."""
    sent = client.post(f"/c/{SLUG}/status/", {"id_number": id_number, "altcha": solved("status_code")})
    assert sent.status_code == 302, sent.content
    return client.post(f"/c/{SLUG}/status/code/", {"code": last_code(_phone_of(reg))}, follow=True)


def _phone_of(reg: Registration) -> str:
    from allot.identity.crypto import unseal

    return unseal(reg.person.phone_sealed, context="person.phone")


# --- every page in both languages ------------------------------------------------------------------------

PAGES = [
    ("/", "正在进行的活动", "Current campaigns"),
    (f"/c/{SLUG}/", "查询结果", "Check my result"),
    (f"/c/{SLUG}/districts/", "请选择所在区", "Choose your district"),
    (f"/c/{SLUG}/d/350203/", "思明区的药店", "Pharmacies in 思明区"),
    (f"/c/{SLUG}/register/?district=350203&outlet=XM-SM-001", "个人信息使用说明",
     "How your personal information is used"),
    (f"/c/{SLUG}/status/", "获取验证码", "Send me a code"),
    ("/draws/", "摇号公示", "Public draw records"),
]


@pytest.mark.parametrize(("url", "zh", "en"), PAGES)
def test_page_renders_in_chinese_by_default(xiamen, zh_client, url, zh, en):
    response = zh_client.get(url)

    assert response.status_code == 200
    assert zh in text(response)
    assert '<html lang="zh-hans">' in text(response)
    assert 'name="viewport"' in text(response)


@pytest.mark.parametrize(("url", "zh", "en"), PAGES)
def test_page_renders_in_english_when_asked(xiamen, en_client, url, zh, en):
    response = en_client.get(url)

    assert response.status_code == 200
    assert en in text(response)
    assert '<html lang="en">' in text(response)


def test_language_switch_sets_english_for_the_next_pages(xiamen):
    client = Client()

    response = client.post("/i18n/setlang/", {"language": "en", "next": f"/c/{SLUG}/"}, follow=True)

    assert response.redirect_chain[-1][0] == f"/c/{SLUG}/"
    assert "Check my result" in text(response)


def test_pages_have_no_inline_script(stocked, zh_client):
    html = text(zh_client.get(f"/c/{SLUG}/d/350203/"))

    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts, "the outlets page loads its distance script"
    assert all("src=" in s for s in scripts)


# --- campaign page ---------------------------------------------------------------------------------------

def test_campaign_page_shows_todays_numbers_and_rules(stocked, zh_client):
    registration_create(campaign=stocked.campaign, request=registration_request(1))

    html = text(zh_client.get(f"/c/{SLUG}/"))

    assert "可供 2 人（共 10 只）" in html
    assert "已预约人数" in html
    assert "每天 09:00 摇号" in html
    assert "厦门市12345热线" in html


def test_campaign_page_shows_a_friendly_notice_during_maintenance(xiamen, zh_client):
    c = xiamen.campaign
    t = local_now(c).time()
    c.maintenance_start, c.maintenance_end = dt.time(t.hour, 0), dt.time((t.hour + 1) % 24, 0)
    c.save(update_fields=["maintenance_start", "maintenance_end"])

    html = text(zh_client.get(f"/c/{SLUG}/"))

    assert "系统每晚" in html
    assert "暂停预约" in html


def test_unknown_campaign_is_404(xiamen, zh_client):
    assert zh_client.get("/c/nowhere/").status_code == 404


# --- districts and outlets -------------------------------------------------------------------------------

def test_districts_page_lists_the_citys_six_districts(xiamen, zh_client):
    html = text(zh_client.get(f"/c/{SLUG}/districts/"))

    for name in ("思明区", "湖里区", "集美区", "海沧区", "同安区", "翔安区"):
        assert name in html


def test_outlets_page_shows_stock_coordinates_and_links_to_the_form(stocked, zh_client):
    html = text(zh_client.get(f"/c/{SLUG}/d/350203/"))

    assert "思明第一药房" in html and "思明第二药房" in html
    assert "湖里第一药房" not in html
    assert "10 只，可供 2 人" in html
    assert 'data-lat="24.455000"' in html
    assert f"/c/{SLUG}/register/?district=350203&amp;outlet=XM-SM-001" in html
    assert f"/c/{SLUG}/register/?district=350203&amp;any=1" in html
    assert html.index("XM-SM-001") < html.index("XM-SM-002")


def test_outlets_page_query_count_is_pinned(stocked, zh_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):
        response = zh_client.get(f"/c/{SLUG}/d/350203/")

    assert response.status_code == 200


def test_outlets_page_of_another_citys_district_is_404(xiamen, zh_client):
    assert zh_client.get(f"/c/{SLUG}/d/350102/").status_code == 404


# --- registration form -----------------------------------------------------------------------------------

def test_register_form_preselects_the_outlet_and_leaves_consent_unticked(stocked, zh_client):
    html = text(zh_client.get(f"/c/{SLUG}/register/?district=350203&outlet=XM-SM-002"))

    assert '<option value="XM-SM-002" selected>' in html
    box = re.search(r'<input type="checkbox" name="consent_id"[^>]*>', html)
    assert box and "checked" not in box.group(0)
    assert "说明版本 2026-1" in html


def test_register_form_shows_purpose_recipients_and_retention_of_the_id_number(stocked, en_client):
    stocked.campaign.retention_days = 45
    stocked.campaign.save(update_fields=["retention_days"])

    html = text(en_client.get(f"/c/{SLUG}/register/?district=350203"))

    section = html[html.index('id="consent-id-h"'):html.index('name="consent_id"')]
    for word in ("Purpose", "Recipients", "Retention", "45 days after the campaign ends"):
        assert word in section
    assert 'name="consent_health"' not in html and 'name="health_returned"' not in html


def test_register_form_of_a_campaign_asking_health_has_a_separate_unticked_health_consent(stocked, en_client):
    stocked.campaign.ask_health = True
    stocked.campaign.save(update_fields=["ask_health"])

    html = text(en_client.get(f"/c/{SLUG}/register/?district=350203"))

    for name in ("health_returned", "health_return_date", "health_symptoms"):
        assert f'name="{name}"' in html
    box = re.search(r'<input type="checkbox" name="consent_health"[^>]*>', html)
    assert box and "checked" not in box.group(0)
    assert "epidemic-prevention office" in html


def test_register_form_carries_a_challenge_and_loads_the_solver_from_a_static_file(stocked, zh_client):
    html = text(zh_client.get(f"/c/{SLUG}/register/?district=350203"))

    assert "data-altcha-challenge=" in html and 'name="altcha"' in html
    assert "/static/allot/altcha.js" in html
    assert "<noscript>" in html


def test_register_form_without_district_sends_the_resident_to_choose_one(xiamen, zh_client):
    response = zh_client.get(f"/c/{SLUG}/register/")

    assert response.status_code == 302
    assert response["Location"] == f"/c/{SLUG}/districts/"


def test_registering_through_the_form_creates_one_registration_and_sends_its_number_by_sms(stocked, zh_client):
    response = zh_client.post(f"/c/{SLUG}/register/", form_data(1), follow=True)

    reg = Registration.objects.get()
    assert response.redirect_chain == [(f"/c/{SLUG}/registered/", 302)]
    html = text(response)
    assert "我们已收到您的预约" in html
    assert "139****0001" in html
    assert reg.number not in html
    assert reg.channel == Registration.Channel.WEB
    assert any(reg.number in t for t in sms_texts(make_phone(1)))


def test_confirmation_page_shows_no_personal_data_and_is_not_cached(stocked, zh_client):
    response = zh_client.post(f"/c/{SLUG}/register/", form_data(1), follow=True)

    html = text(response)
    assert make_id_number(seq=1) not in html
    assert make_phone(1)[3:] not in html
    assert "张三" not in html
    assert "no-store" in response["Cache-Control"]


def test_bad_id_number_shows_the_error_in_chinese_keeps_the_name_and_creates_nothing(stocked, zh_client):
    response = zh_client.post(f"/c/{SLUG}/register/", form_data(1, id_number="35020319900101001", name="李四"))

    html = text(response)
    assert response.status_code == 400
    assert "居民身份证号码" in html and 'id="id_id_number_error"' in html
    assert 'value="李四"' in html
    assert Registration.objects.count() == 0


def test_bad_phone_error_is_shown_next_to_the_phone_field(stocked, zh_client):
    response = zh_client.post(f"/c/{SLUG}/register/", form_data(1, phone="12345"))

    assert 'id="id_phone_error"' in text(response)
    assert Registration.objects.count() == 0


def test_registration_without_id_consent_is_refused(stocked, en_client):
    data = form_data(1)
    del data["consent_id"]

    response = en_client.post(f"/c/{SLUG}/register/", data)

    assert response.status_code == 400
    assert 'id="consent_id_error"' in text(response)
    assert "Read how your ID number is used" in text(response)
    assert Registration.objects.count() == 0


def test_registration_without_health_consent_is_refused_when_health_is_asked(stocked, en_client):
    stocked.campaign.ask_health = True
    stocked.campaign.save(update_fields=["ask_health"])

    response = en_client.post(f"/c/{SLUG}/register/", form_data(1, health_returned="no", health_symptoms="no"))

    assert response.status_code == 400
    assert 'id="consent_health_error"' in text(response)
    assert Registration.objects.count() == 0


def test_registration_with_health_answers_and_both_consents_is_stored(stocked, en_client):
    stocked.campaign.ask_health = True
    stocked.campaign.save(update_fields=["ask_health"])

    response = en_client.post(f"/c/{SLUG}/register/", form_data(
        1, health_returned="no", health_symptoms="no", consent_health="on"))

    assert response.status_code == 302, text(response)
    reg = Registration.objects.get()
    assert reg.health_sealed and reg.consent_health_at and reg.consent_at


@pytest.mark.parametrize("extra", [{"nickname": "三儿"}, {"health_returned": "no"}, {"consent_health": "on"}])
def test_a_post_with_a_field_the_form_does_not_show_is_refused_as_unexpected_field(stocked, en_client, extra):
    response = en_client.post(f"/c/{SLUG}/register/", form_data(1, **extra))

    assert response.status_code == 400
    assert [e.code for e in response.context["form"].non_field_errors().as_data()] == ["unexpected_field"]
    assert Registration.objects.count() == 0


def test_registration_without_the_proof_of_work_is_refused(stocked, en_client):
    response = en_client.post(f"/c/{SLUG}/register/", form_data(1, altcha=""))

    assert response.status_code == 400
    assert "I am not a robot" in text(response)
    assert Registration.objects.count() == 0


def test_registering_twice_looks_the_same_as_registering_once(stocked, en_client):
    first = en_client.post(f"/c/{SLUG}/register/", form_data(1))

    again = en_client.post(f"/c/{SLUG}/register/", form_data(1))

    assert (first.status_code, first["Location"]) == (again.status_code, again["Location"])
    assert Registration.objects.count() == 1


def test_accept_any_without_outlet_registers_for_any_pharmacy(stocked, zh_client):
    zh_client.post(f"/c/{SLUG}/register/", form_data(1, outlet="", accept_any="on"))

    reg = Registration.objects.get()
    assert reg.outlet is None and reg.accept_any


def test_register_page_is_not_cached(stocked, zh_client):
    response = zh_client.get(f"/c/{SLUG}/register/?district=350203")

    assert "no-store" in response["Cache-Control"]


# --- status --------------------------------------------------------------------------------------------

def test_status_of_a_registration_waiting_for_the_draw(stocked, zh_client):
    reg = registration_create(campaign=stocked.campaign, request=registration_request(1))

    response = look_up(zh_client, reg, make_id_number(seq=1))

    assert response.redirect_chain == [(f"/c/{SLUG}/status/view/", 302)]
    html = text(response)
    assert "已预约，等待摇号" in html
    assert "取消预约" in html
    assert "预约编号：" in html   # Chinese punctuation after the label, not an ASCII colon
    assert "no-store" in response["Cache-Control"]


def test_status_of_a_winner_shows_pickup_code_and_qr_and_no_raw_personal_data(
        stocked, zh_client, django_capture_on_commit_callbacks):
    reg = registration_create(campaign=stocked.campaign, request=registration_request(1))
    with django_capture_on_commit_callbacks(execute=True):
        draw_run_now(campaign=stocked.campaign)
    reg.refresh_from_db()
    code = reg.pickup.code

    html = text(look_up(zh_client, reg, make_id_number(seq=1)))

    assert "恭喜您中签" in html
    assert f"{code[:5]}-{code[5:]}" in html
    assert "<svg" in html
    assert "思明区中山路1号" in html
    assert f"/draws/{reg.round.draw_id}/" in html
    assert f"/draws/{reg.round.draw_id}/proof/{reg.entry_id}.json" in html
    assert make_id_number(seq=1) not in html
    assert make_phone(1)[3:] not in html


def test_status_of_a_loser_shows_the_roll_over_to_the_next_draw(
        stocked, zh_client, django_capture_on_commit_callbacks):
    regs = [registration_create(campaign=stocked.campaign, request=registration_request(n)) for n in (1, 2, 3)]
    with django_capture_on_commit_callbacks(execute=True):
        draw_run_now(campaign=stocked.campaign)
    loser = Registration.objects.get(pk__in=[r.pk for r in regs], status=Registration.Status.LOST)
    n = [r.pk for r in regs].index(loser.pk) + 1

    html = text(look_up(zh_client, loser, make_id_number(seq=n)))

    new = loser.rolled_to.number
    assert "未中签，已自动参加本次摇号" in html
    assert f"{new[:5]}-{new[5:]}" in html


def test_wrong_code_is_refused_and_the_record_stays_closed(stocked, en_client):
    reg = registration_create(campaign=stocked.campaign, request=registration_request(1))
    en_client.post(f"/c/{SLUG}/status/", {"id_number": make_id_number(seq=1), "altcha": solved("status_code")})
    wrong = "000000" if last_code(make_phone(1)) != "000000" else "111111"

    response = en_client.post(f"/c/{SLUG}/status/code/", {"code": wrong})

    assert response.status_code == 400
    assert "This code is not right" in text(response)
    assert en_client.get(f"/c/{SLUG}/status/view/").status_code == 302
    assert reg.number not in text(response)


def test_asking_for_a_code_looks_the_same_for_an_unregistered_id_number(stocked, en_client):
    registration_create(campaign=stocked.campaign, request=registration_request(1))

    known = en_client.post(f"/c/{SLUG}/status/", {"id_number": make_id_number(seq=1),
                                                  "altcha": solved("status_code")}, follow=True)
    unknown = en_client.post(f"/c/{SLUG}/status/", {"id_number": make_id_number(seq=2),
                                                    "altcha": solved("status_code")}, follow=True)

    assert known.redirect_chain == unknown.redirect_chain == [(f"/c/{SLUG}/status/code/", 302)]
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert strip.sub("", text(known)) == strip.sub("", text(unknown))


def test_status_page_shows_the_residents_own_record_with_consents(stocked, en_client):
    reg = registration_create(campaign=stocked.campaign, request=registration_request(1))

    html = text(look_up(en_client, reg, make_id_number(seq=1)))

    assert "What we hold about this registration" in html
    assert "Consent: ID number" in html and "notice version 2026-1, given on " in html
    assert make_id_number(seq=1) not in html


def test_status_page_in_chinese_joins_its_values_with_chinese_punctuation(stocked, zh_client):
    reg = registration_create(campaign=stocked.campaign, request=registration_request(1))

    html = text(look_up(zh_client, reg, make_id_number(seq=1)))

    # one translatable sentence, not an English ", " between a translated phrase and a date
    assert re.search(r"说明版本 2026-1，于 \d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d 同意", html)
    assert re.search(r"说明版本 2026-1</dd>|说明版本 2026-1, ", html) is None


def test_status_page_in_chinese_says_the_date_of_return_in_one_sentence(stocked, zh_client):
    import datetime as dt

    stocked.campaign.ask_health = True
    stocked.campaign.save(update_fields=["ask_health"])
    back = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    assert zh_client.post(f"/c/{SLUG}/register/", form_data(
        1, health_returned="yes", health_return_date=back, health_symptoms="no",
        consent_health="on")).status_code == 302
    reg = Registration.objects.get()

    html = text(look_up(zh_client, reg, make_id_number(seq=1)))

    assert re.search(r"<dd>是，\d{4}年\d{1,2}月\d{1,2}日</dd>", html)


def test_status_page_without_a_looked_up_registration_asks_for_the_number(xiamen, zh_client):
    response = zh_client.get(f"/c/{SLUG}/status/view/")

    assert response.status_code == 302
    assert response["Location"] == f"/c/{SLUG}/status/"


def test_withdrawing_marks_the_registration_withdrawn_and_the_status_page_says_so(stocked, zh_client):
    reg = registration_create(campaign=stocked.campaign, request=registration_request(1))
    look_up(zh_client, reg, make_id_number(seq=1))

    response = zh_client.post(f"/c/{SLUG}/status/withdraw/", follow=True)

    reg.refresh_from_db()
    assert reg.status == Registration.Status.WITHDRAWN
    html = text(response)
    assert "您的预约已取消" in html
    assert "已取消" in html
    assert "取消预约</button>" not in html


def test_withdraw_after_the_draw_is_refused_with_a_message(
        stocked, en_client, django_capture_on_commit_callbacks):
    reg = registration_create(campaign=stocked.campaign, request=registration_request(1))
    look_up(en_client, reg, make_id_number(seq=1))
    with django_capture_on_commit_callbacks(execute=True):
        draw_run_now(campaign=stocked.campaign)

    response = en_client.post(f"/c/{SLUG}/status/withdraw/", follow=True)

    reg.refresh_from_db()
    assert reg.status == Registration.Status.WON
    assert "Only a registration that has not been drawn yet can be withdrawn" in text(response)


def test_a_redeemed_code_shows_when_it_was_collected(stocked, zh_client, clerk_factory,
                                                     django_capture_on_commit_callbacks):
    from allot.pickup.services import pickup_redeem

    reg = registration_create(campaign=stocked.campaign, request=registration_request(1))
    with django_capture_on_commit_callbacks(execute=True):
        draw_run_now(campaign=stocked.campaign)
    reg.refresh_from_db()
    pickup_redeem(code=reg.pickup.code, clerk=clerk_factory(stocked.outlets[0]), now=timezone.now())

    html = text(look_up(zh_client, reg, make_id_number(seq=1)))

    assert "已领取" in html
    assert "<svg" not in html


def test_a_first_come_campaign_page_leads_to_its_claim_page(db, client):
    from tests.firstcome.hangzhou import build_hangzhou

    campaign = build_hangzhou(quota=3)
    response = client.get(f"/c/{campaign.slug}/")
    assert response.status_code == 302 and response["Location"] == f"/c/{campaign.slug}/claim/"
