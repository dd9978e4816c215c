"""The distance sort of the outlets page, in headless Chromium: the location stays in the browser."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_sort_by_distance_reorders_the_list_and_shows_kilometres(transactional_db, xiamen, live_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url = f"{live_server.url}/c/xiamen-masks/d/350203/"
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": live_server.url, "permissions": ["geolocation"]})
    # Standing next to 思明第二药房 (24.470, 118.100): it should come first.
    browser.execute_cdp_cmd("Emulation.setGeolocationOverride",
                            {"latitude": 24.4701, "longitude": 118.1001, "accuracy": 10})
    browser.get(url)
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".outlet-name")]
    assert names == ["思明第一药房", "思明第二药房"]

    browser.find_element(By.CSS_SELECTOR, "[data-locate] button").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-distance]").text)

    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".outlet-name")]
    distances = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-distance]")]
    assert names == ["思明第二药房", "思明第一药房"]
    assert distances[0].endswith(" m") and distances[1].endswith(" km")
