"""Hangzhou's first-come claim page in headless Chromium, on the demo city (load_demo_hangzhou's data): a resident
picks district → street → community, types building / unit / room, is told what is missing and keeps what they
typed, claims and sees the claim number and the parcel status; the same ID number again is "already claimed";
once the day's units are gone the figure on the page drops to 0 by itself (the page's script polls
remaining.json) and the next claim gets "sold out". Before the opening the page counts down and opens by itself.
If the claim form carries a proof-of-work check (ALTCHA), the browser solves it like the registration page."""

from __future__ import annotations

import datetime as dt
import re
import time
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from allot.backoffice.demo import hangzhou as demo
from allot.campaigns.models import Campaign
from allot.core.codes import group
from allot.firstcome.models import Claim, QuotaPlan
from allot.firstcome.selectors import window
from allot.firstcome.services import ClaimRequest, claim_create, quota_set
from tests.browser.test_xiamen_cycle import _fill, _loaded, _proof_solved, _submit
from tests.conftest import make_id_number, make_phone
from tests.firstcome.hangzhou import clear_caches

pytestmark = pytest.mark.browser

TZ = ZoneInfo("Asia/Shanghai")
XIHU, BEISHAN, BEISHAN_COMMUNITY = "330106", "330106001000", "330106001001"  # 西湖区 › 北山街道 › 北山社区 (demo)
SUBMIT = "main form button[type=submit]"


@pytest.fixture
def fresh_caches():
    """The claim path caches campaigns, quota ids and sold-out flags per process (the live server's too)."""
    clear_caches()
    yield
    clear_caches()


def _units_today(campaign: Campaign, *, xihu: int) -> None:
    """The operator sets today's units: ``xihu`` for 西湖区, none for the other districts."""
    day = window(campaign).day
    for key in QuotaPlan.objects.filter(campaign=campaign).values_list("scope_key", flat=True):
        quota_set(campaign=campaign, day=day, scope_key=key, units=xihu if key == XIHU else 0)


def _main(browser) -> str:
    _loaded(browser)
    return browser.execute_script("return document.querySelector('main').innerText")


def _go(browser, link_text: str) -> None:
    _loaded(browser)
    browser.find_element(By.LINK_TEXT, link_text).click()
    _loaded(browser)


def _proof_if_asked(browser) -> None:
    """The claim form may carry an ALTCHA check (as the registration form does): then wait for the script to
    solve it, as a resident's phone does."""
    if browser.execute_script("return !!document.querySelector('main form[data-altcha-form]')"):
        _proof_solved(browser)


def _value(browser, name: str) -> str:
    return browser.find_element(By.NAME, name).get_attribute("value")


def _remaining(browser) -> str:
    return browser.execute_script("var e = document.querySelector('[data-remaining]'); return e && e.textContent")


def _fill_resident(browser, *, name: str, id_number: str, phone: str) -> None:
    _fill(browser, "name", name)
    _fill(browser, "id_number", id_number)
    _fill(browser, "phone", phone)


def test_a_resident_claims_once_then_the_day_sells_out(transactional_db, fresh_caches, live_server, browser):
    demo.load(claims=0, opens_at=dt.time(0, 0))
    campaign = Campaign.objects.get(slug=demo.CAMPAIGN_SLUG)
    _units_today(campaign, xihu=2)
    url = f"{live_server.url}/c/{campaign.slug}/claim/"
    id_number = make_id_number(region="330106", birth="19880304", seq=7)

    # district → street → the form, with today's units on it
    browser.get(url)
    assert "您住在哪个区县" in _main(browser)
    _go(browser, "西湖区")
    _go(browser, "北山街道")
    assert _remaining(browser) == "2"
    Select(browser.find_element(By.NAME, "committee")).select_by_visible_text("北山社区")
    _fill_resident(browser, name="钱小杭", id_number=id_number, phone="139 0000 0007")
    _fill(browser, "unit", "2")
    _fill(browser, "room", "301")
    browser.find_element(By.NAME, "consent").click()

    # the building left empty: told so, and nothing typed is lost
    _proof_if_asked(browser)
    _submit(browser, SUBMIT)
    page = _main(browser)
    assert "请按下方提示修改后再提交" in page and "请填写楼栋" in page
    assert Claim.objects.count() == 0
    assert [_value(browser, f) for f in ("name", "id_number", "phone", "unit", "room")] == [
        "钱小杭", id_number, "139 0000 0007", "2", "301"]
    assert Select(browser.find_element(By.NAME, "committee")).first_selected_option.text == "北山社区"
    assert browser.find_element(By.NAME, "consent").is_selected()

    # with the building: accepted, with the claim number and the parcel's status
    _fill(browser, "building", "3")
    _proof_if_asked(browser)
    _submit(browser, SUBMIT)
    claim = Claim.objects.select_related("parcel").get()
    page = _main(browser)
    assert "申领成功" in page
    assert browser.find_element(By.CSS_SELECTOR, ".status-won .code").text == group(claim.number)
    assert browser.find_element(By.CSS_SELECTOR, ".status-won .status-title").text == "打包中"  # being packed
    assert claim.parcel.number in page and "北山街道" in page and "3幢" in page
    assert id_number not in browser.page_source and "13900000007" not in browser.page_source

    # the same ID number again: already claimed, no second claim
    browser.get(f"{url}?district={XIHU}&street={BEISHAN}")
    Select(browser.find_element(By.NAME, "committee")).select_by_visible_text("北山社区")
    _fill_resident(browser, name="钱小杭", id_number=id_number, phone="139 0000 0007")
    for field, value in (("building", "3"), ("unit", "2"), ("room", "301")):
        _fill(browser, field, value)
    browser.find_element(By.NAME, "consent").click()
    _proof_if_asked(browser)
    _submit(browser, SUBMIT)
    assert "此身份证号码今天已经申领过" in _main(browser)
    assert Claim.objects.count() == 1
    assert _remaining(browser) == "1"

    # someone else takes the last unit: the figure on the open page drops to 0 by itself
    claim_create(campaign=campaign, request=ClaimRequest(
        name="孙七", id_number=make_id_number(region="330106", seq=8), phone=make_phone(8), district=XIHU,
        street=BEISHAN, committee=BEISHAN_COMMUNITY, building="5", room="502", consent=True))
    WebDriverWait(browser, 15).until(lambda b: _remaining(b) == "0")

    # the next resident is told "sold out", and so is everyone who opens the page now
    _fill(browser, "id_number", make_id_number(region="330106", seq=9))
    _proof_if_asked(browser)
    _submit(browser, SUBMIT)
    assert "今日名额已领完" in _main(browser)
    assert browser.find_elements(By.CSS_SELECTOR, ".status-lost") and not browser.find_elements(By.NAME, "id_number")
    browser.get(url)
    assert "今日名额已领完" in _main(browser)
    assert Claim.objects.count() == 2


def test_before_the_opening_the_page_counts_down_and_opens_by_itself(transactional_db, fresh_caches, live_server,
                                                                     browser):
    now = dt.datetime.now(tz=TZ)
    if (now + dt.timedelta(seconds=30)).date() != now.date():  # an opening time must fall on today
        time.sleep((dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0, 0, 1), TZ) - now)
                   .total_seconds())
        now = dt.datetime.now(tz=TZ)
    opens = (now + dt.timedelta(seconds=8)).time().replace(microsecond=0)
    demo.load(claims=0, opens_at=opens)
    url = f"{live_server.url}/c/{demo.CAMPAIGN_SLUG}/claim/"

    browser.get(url)
    assert "尚未开放" in _main(browser)
    # the server writes the opening time (HH:MM); the script turns it into a ticking HH:MM:SS countdown
    WebDriverWait(browser, 5).until(lambda b: re.fullmatch(r"00:00:0\d", b.execute_script(
        "var e = document.querySelector('[data-countdown]'); return e ? e.textContent : ''") or ""))
    # at zero the page reloads itself into the claim page
    WebDriverWait(browser, 30).until(lambda b: "您住在哪个区县" in (b.execute_script(
        "var m = document.querySelector('main'); return m ? m.innerText : ''") or ""))
    assert "尚未开放" not in _main(browser)
