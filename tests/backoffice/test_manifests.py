"""The operators' courier-manifest page: first-come delivery campaigns, the day's parcels by courier, area and
status, and a courier's manifest as CSV or XLSX (the delivery services' format), with the purpose in the access
log. Wrong scope is 404; clerks, notaries and anonymous visitors are refused."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from allot.core.models import AuditLog
from allot.delivery.models import Courier, Parcel
from allot.delivery.services import StatusReport, manifest_assign, parcel_status_report
from allot.firstcome.services import claim_create
from allot.privacy.models import AccessLog
from allot.staff.models import StaffProfile
from tests.conftest import make_id_number
from tests.firstcome.hangzhou import SLUG, build_hangzhou, claim_request, clear_caches

PAGE = f"/staff/manifests/{SLUG}/"
DOWNLOAD = f"/staff/manifests/{SLUG}/download/"
PURPOSE = "顺丰西湖今日派件，快递员无法使用接口"
SF_COLUMNS = [["parcel", "运单号"], ["recipient", "收件人"], ["phone", "电话"], ["street", "街道"],
              ["building", "楼栋"], ["room", "房号"], ["claim", "订单号"]]
# addresses of the test city (tests/firstcome/hangzhou.py)
BEISHAN = {"district": "330106", "street": "330106001000", "committee": "330106001001"}   # 西湖区 北山街道 北山社区
XIXI = {"district": "330106", "street": "330106004000", "committee": "330106004001"}      # 西湖区 西溪街道 文三社区
HUBIN = {"district": "330102", "street": "330102001000", "committee": "330102001001"}     # 上城区 湖滨街道 东坡路社区


@pytest.fixture(autouse=True)
def _fresh_caches():
    """The claim path caches campaigns, quota ids and sold-out flags per process."""
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def campaign(db):
    return build_hangzhou(quota=50)


@pytest.fixture
def sf(campaign):
    """A courier for 西湖区 with its own columns."""
    c = Courier.objects.create(code="sf-xihu", name="顺丰西湖", company="顺丰", columns=SF_COLUMNS)
    c.districts.add("330106")
    return c


@pytest.fixture
def yto(campaign):
    """A courier for 上城区 and 西湖区, default columns."""
    c = Courier.objects.create(code="yto-city", name="圆通城区", company="圆通")
    c.districts.add("330102", "330106")
    return c


def _claim(campaign, n: int, address: dict[str, str], name: str = "王五", **over):
    return claim_create(campaign=campaign, request=claim_request(n, name=name, **address, **over))


@pytest.fixture
def claims(campaign):
    """Four claims today: two in 北山街道, one in 西溪街道 (both 西湖区), one in 湖滨街道 (上城区)."""
    return [_claim(campaign, 1, BEISHAN, name="王五", building="3", room="301"),
            _claim(campaign, 2, BEISHAN, name="李四", building="5", room="502"),
            _claim(campaign, 3, XIXI, name="张三", building="12", room="1101"),
            _claim(campaign, 4, HUBIN, name="赵六", building="1", room="101")]


@pytest.fixture
def operator(staff_factory, campaign):
    return staff_factory("hz-op", StaffProfile.Role.OPERATOR, campaigns=[campaign])


@pytest.fixture
def logged_in(client, operator):
    client.force_login(operator)
    return client


def _today() -> dt.date:
    """The campaign's day (Asia/Shanghai), which is the day of the claims made now."""
    return dt.datetime.now(tz=ZoneInfo("Asia/Shanghai")).date()


def _download(client, target: str, *, day: dt.date | None = None, purpose: str = PURPOSE):
    return client.post(DOWNLOAD, {"day": (day or _today()).isoformat(), "download": target, "purpose": purpose})


class _Tables(HTMLParser):
    """The rows of each table of a page: ``{table id: [(tr attributes, [cell texts])]}``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[tuple[dict[str, str], list[str]]]] = {}
        self._table: str | None = None
        self._row: tuple[dict[str, str], list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self._table = a.get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = (a, [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row[1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _tables(response) -> dict[str, list[tuple[dict[str, str], list[str]]]]:
    parser = _Tables()
    parser.feed(response.content.decode())
    return parser.tables


def _count_row(tables, courier: str, street: str) -> list[str]:
    rows = [cells for attrs, cells in tables["parcel-counts"]
            if attrs.get("data-courier") == courier and attrs.get("data-street") == street]
    assert len(rows) == 1, tables["parcel-counts"]
    return rows[0]


# --- the home page and the list -------------------------------------------------------------------------

def test_the_staff_home_links_an_operator_to_the_manifests(logged_in):
    page = logged_in.get("/staff/").content.decode()

    assert "/staff/manifests/" in page


def test_the_staff_home_has_no_manifest_link_for_a_notary(client, staff_factory, campaign):
    client.force_login(staff_factory("nt", StaffProfile.Role.NOTARY, campaigns=[campaign]))

    page = client.get("/staff/").content.decode()

    assert "/staff/manifests/" not in page


def test_the_list_shows_only_first_come_delivery_campaigns_the_operator_operates(client, staff_factory, campaign):
    pickup = build_hangzhou(slug="hangzhou-pickup", fulfilment="pickup")
    build_hangzhou(slug="hangzhou-other")  # delivery, but not this operator's
    client.force_login(staff_factory("hz-op", StaffProfile.Role.OPERATOR, campaigns=[campaign, pickup]))

    tables = _tables(client.get("/staff/manifests/"))

    assert [attrs["data-campaign"] for attrs, _c in tables["manifest-campaigns"][1:]] == [SLUG]


# --- counts ---------------------------------------------------------------------------------------------

def test_the_page_counts_the_days_parcels_by_courier_area_and_status(logged_in, campaign, sf, claims):
    # given: 西湖区's three parcels handed to 顺丰, one of them delivered; 湖滨's parcel not handed over yet
    manifest_assign(courier=sf, day=claims[0].day)
    parcel_status_report(courier=sf, report=StatusReport(parcel=claims[0].parcel.number, status="delivered",
                                                         at=timezone.now()))

    response = logged_in.get(PAGE)

    assert response.status_code == 200
    tables = _tables(response)
    head = tables["parcel-counts"][0][1]  # the page speaks zh-Hans first
    created, manifested, delivered, total = (head.index("打包中"), head.index("已交快递"), head.index("已送达"),
                                             head.index("合计"))
    beishan = _count_row(tables, "sf-xihu", "北山街道")
    assert (beishan[manifested], beishan[delivered], beishan[total]) == ("1", "1", "2")
    xixi = _count_row(tables, "sf-xihu", "西溪街道")
    assert (xixi[manifested], xixi[total]) == ("1", "1")
    hubin = _count_row(tables, "-", "湖滨街道")
    assert (hubin[created], hubin[total]) == ("1", "1") and hubin[1] == "上城区"
    totals = next(cells for attrs, cells in tables["parcel-counts"] if attrs.get("id") == "parcel-totals")
    assert (totals[0], totals[-1], totals[created - 2]) == ("全部", "4", "1")  # "全部" spans three columns


def test_the_downloads_offered_say_what_each_courier_has_and_what_it_would_get(logged_in, sf, yto, claims):
    manifest_assign(courier=sf, day=claims[0].day, district_code="330106")

    rows = {attrs["data-target"]: cells for attrs, cells in _tables(logged_in.get(PAGE))["manifest-targets"][1:]}

    # 顺丰 holds 西湖区's three; 圆通 (上城区 + 西湖区) would get 湖滨's one, nothing in 西湖区 is left
    assert rows["sf-xihu|"][2:4] == ["3", "0"] and rows["sf-xihu|330106"][2:4] == ["3", "0"]
    assert rows["yto-city|"][2:4] == ["0", "1"] and rows["yto-city|330102"][2:4] == ["0", "1"]
    assert rows["yto-city|330106"][2:4] == ["0", "0"]
    assert "sf-xihu|330102" not in rows  # 顺丰 does not serve 上城区


def test_another_day_is_counted_on_its_own(logged_in, campaign, sf, claims):
    response = logged_in.get(PAGE, {"day": (claims[0].day - dt.timedelta(days=1)).isoformat()})

    assert response.status_code == 200
    assert [cells for _a, cells in _tables(response)["parcel-counts"][1:]] == [["当天没有包裹。"]]


def test_a_malformed_day_is_a_400_with_the_page(logged_in, claims):
    response = logged_in.get(PAGE, {"day": "2026-13-45"})

    assert response.status_code == 400
    assert "manifest-day" in response.content.decode()


def test_the_page_does_not_query_per_parcel(logged_in, campaign, sf, claims):
    logged_in.get(PAGE)  # the session's first request writes it
    with CaptureQueriesContext(connection) as few:
        logged_in.get(PAGE)
    for n in range(5, 15):
        _claim(campaign, n, XIXI if n % 2 else BEISHAN)
    with CaptureQueriesContext(connection) as many:
        logged_in.get(PAGE)

    assert len(many) == len(few)


# --- the people on the page are masked ------------------------------------------------------------------

def test_the_parcel_list_shows_names_and_phones_masked_only(logged_in, campaign, claims):
    response = logged_in.get(PAGE)

    page = response.content.decode()
    rows = {attrs["data-parcel"]: cells for attrs, cells in _tables(response)["parcel-list"][1:]}
    first = rows[claims[0].parcel.number]
    assert first[4:6] == ["王*", "139****0001"]
    for n in range(1, 5):
        assert make_id_number(region="330106", seq=n) not in page
        assert f"1390000000{n}" not in page
    for name in ("王五", "李四", "张三", "赵六"):
        assert name not in page


# --- downloads ------------------------------------------------------------------------------------------

def test_a_couriers_manifest_downloads_as_csv_in_its_columns(logged_in, campaign, sf, claims):
    response = _download(logged_in, "sf-xihu||csv")

    assert response.status_code == 200, response.content.decode()[:2000]
    assert response["Content-Type"].startswith("text/csv")
    day = claims[0].day
    assert response["Content-Disposition"] == f'attachment; filename="manifest-sf-xihu-{day:%Y%m%d}.csv"'
    assert response["Cache-Control"] == "no-store"
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["运单号", "收件人", "电话", "街道", "楼栋", "房号", "订单号"]
    by_claim = {row[6]: row for row in table[1:]}
    assert set(by_claim) == {c.number for c in claims[:3]}  # 西湖区 only: 湖滨 is 上城区
    first = claims[0]
    assert by_claim[first.number] == [first.parcel.number, "王五", "13900000001", "北山街道", "3幢", "301室",
                                      first.number]


def test_the_download_hands_the_parcels_over_to_the_courier(logged_in, sf, claims):
    _download(logged_in, "sf-xihu||csv")

    parcels = {p.claim_id: p for p in Parcel.objects.all()}
    assert {parcels[c.pk].courier_id for c in claims[:3]} == {sf.pk}
    assert {parcels[c.pk].status for c in claims[:3]} == {"manifested"}
    assert parcels[claims[3].pk].courier_id is None


def test_a_couriers_manifest_downloads_as_xlsx(logged_in, campaign, sf, claims):
    response = _download(logged_in, "sf-xihu||xlsx")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True).active
    rows = [[c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["运单号", "收件人", "电话", "街道", "楼栋", "房号", "订单号"]
    assert sorted(r[6] for r in rows[1:]) == sorted(c.number for c in claims[:3])
    xixi = next(r for r in rows[1:] if r[6] == claims[2].number)
    assert xixi[1:6] == ["张三", "13900000003", "西溪街道", "12幢", "1101室"]


def test_a_manifest_for_one_district_has_only_that_districts_parcels(logged_in, yto, claims):
    response = _download(logged_in, "yto-city|330102|csv")

    assert response.status_code == 200
    assert "manifest-yto-city-" in response["Content-Disposition"] and "-330102.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["预约编号"], r["区"], r["收件人"]) for r in rows] == [(claims[3].number, "上城区", "赵六")]
    assert Parcel.objects.filter(courier=yto).count() == 1  # 西湖区's parcels were not handed over


def test_a_download_is_in_the_access_log_with_its_purpose_and_in_the_audit_log(logged_in, operator, sf, claims):
    _download(logged_in, "sf-xihu|330106|csv")

    row = AccessLog.objects.get()
    assert (row.actor, row.role, row.action, row.campaign_slug) == (operator, "operator", "export", SLUG)
    assert (row.object_type, row.object_id) == ("delivery.manifest", f"sf-xihu/{claims[0].day.isoformat()}/330106")
    assert (row.purpose, row.records) == (PURPOSE, 3)
    assert row.fields.split(",") == [key for key, _h in SF_COLUMNS]
    audit = AuditLog.objects.get(action="allot.delivery.manifest_exported")
    assert (audit.actor, audit.data["parcels"], audit.data["revealed"]) == (operator, 3, ["name", "phone"])
    assert "王五" not in str(audit.data) and "13900000001" not in row.purpose + str(audit.data)


def test_the_access_log_shows_the_download_to_the_campaigns_operators(logged_in, sf, claims):
    _download(logged_in, "sf-xihu||csv")

    page = logged_in.get("/staff/exports/").content.decode()

    assert f"delivery.manifest:sf-xihu/{claims[0].day.isoformat()}/all" in page and PURPOSE in page


def test_a_download_without_a_purpose_is_refused_and_leaves_no_trace(logged_in, sf, claims):
    response = _download(logged_in, "sf-xihu||csv", purpose="  ")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert AccessLog.objects.count() == 0
    assert not AuditLog.objects.filter(action__startswith="allot.delivery.manifest").exists()
    assert not Parcel.objects.filter(courier__isnull=False).exists()


def test_a_manifest_that_would_carry_another_campaigns_parcels_is_refused(logged_in, sf, claims):
    other = build_hangzhou(slug="hangzhou-other", quota=5)
    stranger = claim_create(campaign=other, request=claim_request(9, **BEISHAN))

    response = _download(logged_in, "sf-xihu||csv")

    assert response.status_code == 409
    assert "manifest_other_campaign" in response.content.decode()
    assert AccessLog.objects.count() == 0
    assert not Parcel.objects.filter(courier__isnull=False).exists()
    assert stranger.number not in response.content.decode()


def test_a_courier_the_campaign_does_not_use_is_404(logged_in, sf, claims):
    far = Courier.objects.create(code="sf-xiamen", name="顺丰厦门")

    assert _download(logged_in, "sf-xiamen||csv").status_code == 404
    assert _download(logged_in, "sf-xihu|330102|csv").status_code == 404  # 上城区 is not 顺丰西湖's
    assert AccessLog.objects.count() == 0 and far.parcels.count() == 0


# --- who may ---------------------------------------------------------------------------------------------

def test_an_anonymous_visitor_is_sent_to_the_login(client, campaign, sf, claims):
    page = client.get(PAGE)
    download = _download(client, "sf-xihu||csv")

    assert page.status_code == download.status_code == 302
    assert page["Location"].startswith("/staff/login/")
    assert AccessLog.objects.count() == 0 and not Parcel.objects.filter(courier__isnull=False).exists()


def test_a_notary_of_the_campaign_is_refused(client, staff_factory, campaign, sf, claims):
    client.force_login(staff_factory("nt", StaffProfile.Role.NOTARY, campaigns=[campaign]))

    responses = [client.get("/staff/manifests/"), client.get(PAGE), _download(client, "sf-xihu||csv")]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert AccessLog.objects.count() == 0


def test_a_clerk_is_refused(client, clerk_factory, campaign, sf, claims):
    from allot.places.models import Outlet

    outlet = Outlet.objects.create(code="HZ-XH-001", name="西湖药房", district_id="330106", address="北山街道1号",
                                   latitude=Decimal("30.26"), longitude=Decimal("120.13"))
    client.force_login(clerk_factory(outlet))

    responses = [client.get("/staff/manifests/"), client.get(PAGE), _download(client, "sf-xihu||csv")]

    assert [r.status_code for r in responses] == [403, 403, 403]


def test_an_operator_of_another_campaign_gets_404(client, staff_factory, campaign, sf, claims):
    other = build_hangzhou(slug="hangzhou-other")
    client.force_login(staff_factory("other-op", StaffProfile.Role.OPERATOR, campaigns=[other]))

    responses = [client.get(PAGE), _download(client, "sf-xihu||csv")]

    assert [r.status_code for r in responses] == [404, 404]
    assert AccessLog.objects.count() == 0 and not Parcel.objects.filter(courier__isnull=False).exists()


def test_a_lottery_campaign_has_no_manifest_page(client, staff_factory, xiamen):
    client.force_login(staff_factory("xm-op", StaffProfile.Role.OPERATOR, campaigns=[xiamen.campaign]))

    assert client.get(f"/staff/manifests/{xiamen.campaign.slug}/").status_code == 404


def test_a_superuser_may_download(client, staff_factory, sf, claims):
    client.force_login(staff_factory("root", "", superuser=True))

    response = _download(client, "sf-xihu||csv")

    assert response.status_code == 200
    assert AccessLog.objects.get().role == "superuser"


def test_the_admin_offers_no_manifest_download_that_would_skip_the_access_log(client, staff_factory, sf, claims):
    # given: a superuser in the admin's courier list
    client.force_login(staff_factory("root", "", superuser=True))
    listing = client.get("/admin/delivery/courier/")
    assert listing.status_code == 200 and "sf-xihu" in listing.content.decode()

    # when: the manifest action the admin used to have is asked for
    response = client.post("/admin/delivery/courier/", {"action": "manifest_today_csv",
                                                        "_selected_action": [sf.pk]}, follow=True)

    # then: no file, nothing handed to the courier; the staff page (purpose + access log) is the way
    assert not response.headers.get("Content-Disposition")
    assert "text/csv" not in response.headers.get("Content-Type", "")
    assert not Parcel.objects.filter(courier__isnull=False).exists()
    assert AccessLog.objects.count() == 0



def test_a_claim_of_another_campaign_arriving_during_the_download_undoes_it(logged_in, sf, claims, monkeypatch):
    """A competing write injected between the check and the assignment (saleor's race-condition style): the
    export finds the stranger's parcel in the courier's rows and rolls everything back."""
    from allot.privacy import manifests

    other = build_hangzhou(slug="hangzhou-other", quota=5)
    real_assign = manifests.manifest_assign

    def assign_after_a_competing_claim(**kwargs):
        claim_create(campaign=other, request=claim_request(9, **BEISHAN))
        return real_assign(**kwargs)

    monkeypatch.setattr(manifests, "manifest_assign", assign_after_a_competing_claim)

    response = _download(logged_in, "sf-xihu||csv")

    assert response.status_code == 409 and "manifest_other_campaign" in response.content.decode()
    assert AccessLog.objects.count() == 0
    assert not AuditLog.objects.filter(action__startswith="allot.delivery.manifest").exists()
    assert not Parcel.objects.filter(courier__isnull=False).exists()


def test_the_page_speaks_chinese_first_and_english_on_request(client, operator, claims):
    client.force_login(operator)

    chinese = client.get(PAGE).content.decode()
    english = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "按快递、区域和状态统计包裹" in chinese and "下载派件清单" in chinese
    assert "Parcels by courier, area and status" in english and "Download a manifest" in english
