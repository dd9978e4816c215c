"""The whole Xiamen cycle in headless Chromium: a resident registers through the pages (the page solves the
proof of work), the number arrives by SMS, the draw runs, the resident opens their record with a one-time code
sent to their phone and finds the pickup code, and a clerk redeems it through the clerk page (once)."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from allot.campaigns.selectors import draw_date_for
from allot.campaigns.services import round_get_or_create, supply_set
from allot.draws.services import draw_run_now
from tests.abuse.proof import last_code, sms_texts
from tests.conftest import make_id_number

pytestmark = pytest.mark.browser


def _loaded(browser) -> None:
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return document.readyState") == "complete")


def _submit(browser, selector: str = "main form button[type=submit]") -> None:
    """Click and wait until the next page has replaced this one and finished loading. The old document is
    recognised by a marker set on its window, not by an element reference (Chromium may report a reference to
    a document being replaced as an "inspector error" rather than as stale)."""
    _loaded(browser)
    browser.execute_script("window.__allotOld = true; document.querySelector(arguments[0]).click();", selector)
    WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.execute_script("return window.__allotOld !== true && document.readyState === 'complete'"))


def _proof_solved(browser) -> None:
    """The page's script has solved the proof-of-work challenge."""
    WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, "form[data-altcha-solved]"))


def _fill(browser, field: str, value: str) -> None:
    _loaded(browser)
    el = browser.find_element(By.NAME, field)
    el.clear()
    el.send_keys(value)


def test_register_draw_and_redeem_through_the_pages(transactional_db, xiamen, clerk_factory, live_server, browser):
    c = xiamen.campaign
    supply_set(round_=round_get_or_create(campaign=c, draw_date=draw_date_for(c)), outlet=xiamen.outlets[0], packs=5)
    clerk_factory(xiamen.outlets[0], username="clerk1")
    id_number = make_id_number(seq=42)

    # The resident: campaign page → district → pharmacy → form.
    browser.get(f"{live_server.url}/c/{c.slug}/")
    browser.find_element(By.LINK_TEXT, "我要预约").click()
    browser.find_element(By.LINK_TEXT, "思明区").click()
    browser.find_element(By.PARTIAL_LINK_TEXT, "思明第一药房").click()
    _fill(browser, "name", "陈阿婆")
    _fill(browser, "id_number", id_number[:6] + " " + id_number[6:])
    _fill(browser, "phone", "139 0000 0042")
    browser.find_element(By.NAME, "consent_id").click()
    _proof_solved(browser)
    _submit(browser)
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "我们已收到您的预约" in page and "139****0042" in page and id_number not in browser.page_source
    number = sms_texts("139 0000 0042")[0].split("预约编号 ")[1][:10]
    assert len(number) == 10 and number not in browser.page_source

    # The draw (what the scheduler does at 09:00; the demo's "draw now").
    draw_run_now(campaign=c)

    # The resident checks the result: ID number → code by SMS → their record.
    browser.get(f"{live_server.url}/c/{c.slug}/status/")
    _fill(browser, "id_number", id_number)
    _proof_solved(browser)
    _submit(browser)
    _fill(browser, "code", last_code("139 0000 0042"))
    _submit(browser)
    assert number[:5] in browser.find_element(By.TAG_NAME, "main").text
    code = browser.find_element(By.CSS_SELECTOR, ".status-won .code").text
    assert browser.find_elements(By.CSS_SELECTOR, ".status-won .qr svg")

    # The clerk redeems it, once.
    browser.get(f"{live_server.url}/staff/login/")
    _fill(browser, "username", "clerk1")
    _fill(browser, "password", "clerk-pass-123")
    _submit(browser)
    browser.get(f"{live_server.url}/staff/redeem/")
    for expected in ("ok", "already_redeemed"):
        _fill(browser, "code", code)
        _submit(browser, "#redeem-form button[type=submit]")
        result = browser.find_element(By.CSS_SELECTOR, ".bo-result")
        assert result.get_attribute("data-code") == expected, result.text
