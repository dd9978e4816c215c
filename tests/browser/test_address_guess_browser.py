"""The claim page's "Fill in the fields" in headless Chromium, on the demo city: with the page's script the
address fields are filled in place (the API answers; the page stays, with what the resident typed), Enter in a
field still claims; a pasted address in another district reloads the form with that district's lists."""

from __future__ import annotations

import datetime as dt

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from allot.backoffice.demo import hangzhou as demo
from allot.campaigns.models import Campaign
from allot.firstcome.models import Claim
from tests.browser.test_firstcome_claim import (
    BEISHAN,
    XIHU,
    _fill_resident,
    _main,
    _proof_if_asked,
    _units_today,
    _value,
)
from tests.browser.test_xiamen_cycle import _fill, _submit
from tests.conftest import make_id_number
from tests.firstcome.hangzhou import clear_caches

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh_caches():
    """The claim path caches campaigns, places and sold-out flags per process (the live server's too)."""
    clear_caches()
    yield
    clear_caches()


def _form(browser, live_server) -> Campaign:
    demo.load(claims=0, opens_at=dt.time(0, 0))
    campaign = Campaign.objects.get(slug=demo.CAMPAIGN_SLUG)
    _units_today(campaign, xihu=2)
    browser.get(f"{live_server.url}/c/{campaign.slug}/claim/?district={XIHU}&street={BEISHAN}")
    _fill_resident(browser, name="钱小杭", id_number=make_id_number(region="330106", birth="19880304", seq=7),
                   phone="139 0000 0007")
    return campaign


def _committee(browser) -> str:
    return Select(browser.find_element(By.NAME, "committee")).first_selected_option.text


def test_the_script_fills_the_fields_in_place_and_enter_claims(transactional_db, fresh_caches, live_server,
                                                                browser):
    _form(browser, live_server)
    _fill(browser, "paste", "浙江省杭州市西湖区北山街道北山新村社区 ５栋 1单元 502室\n东门快递柜")
    browser.execute_script("window.__allotOld = true;")

    browser.find_element(By.NAME, "prefill").click()

    WebDriverWait(browser, 10).until(lambda b: _value(b, "building") == "5")
    assert browser.execute_script("return window.__allotOld === true")  # the same page: filled in place
    assert [_value(browser, f) for f in ("unit", "room", "line", "name", "phone")] == [
        "1", "502", "东门快递柜", "钱小杭", "139 0000 0007"]
    assert _committee(browser) == "北山新村社区"
    assert "已根据粘贴的地址自动填写" in _main(browser)
    assert Claim.objects.count() == 0

    # Enter in a field presses "Claim", not "Fill in the fields"
    browser.find_element(By.NAME, "consent").click()
    _proof_if_asked(browser)
    browser.find_element(By.NAME, "room").send_keys(Keys.ENTER)
    WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.execute_script("return window.__allotOld !== true && document.readyState === 'complete'"))
    assert "申领成功" in _main(browser)
    parcel = Claim.objects.select_related("parcel").get().parcel
    assert (parcel.committee.name, parcel.building, parcel.unit, parcel.room) == ("北山新村社区", "5", "1", "502")


def test_another_district_reloads_the_form_with_its_lists(transactional_db, fresh_caches, live_server, browser):
    _form(browser, live_server)
    _fill(browser, "paste", "杭州 上城区 湖滨街道 湖滨社区 3幢")

    _submit(browser, "main form [name=prefill]")

    assert "上城区 › 湖滨街道" in _main(browser)
    assert _committee(browser) == "湖滨社区"
    assert [_value(browser, f) for f in ("building", "name", "phone")] == ["3", "钱小杭", "139 0000 0007"]
    assert Claim.objects.count() == 0
