"""The demo city of Xiamen (厦门), built through the real services.

Everything about people here is synthetic: ID numbers are generated with valid check digits and region
codes that existed in the birth year (checked with ``identity.validation.normalize_id_number``), names are
random combinations of common characters, phones are random mobile numbers. Pharmacy names, addresses and
coordinates are plausible, not real; street and committee codes in ``xiamen_places_synthetic.csv`` are
synthetic too (the street names are real). ``random.Random(seed)`` makes it reproducible; this module is
demo data, not draw code.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from allot.campaigns import selectors as campaign_selectors
from allot.campaigns.models import Campaign, Round
from allot.campaigns.services import round_get_or_create, supply_set
from allot.core.errors import DomainError
from allot.identity.models import EligibilityList, Person
from allot.identity.services import eligibility_import_csv, id_index
from allot.identity.validation import normalize_id_number
from allot.places.models import Division, Outlet
from allot.places.services import divisions_import, outlets_import_csv, places_import_csv
from allot.registrations.models import Registration
from allot.registrations.services import RegistrationRequest, registration_create
from allot.staff.services import staff_account_upsert

HERE = Path(__file__).resolve().parent
PLACES_CSV = HERE / "xiamen_places_synthetic.csv"
CITY = "3502"
CAMPAIGN_SLUG = "xiamen-masks"


@dataclass(frozen=True)
class District:
    code: str
    name: str
    prefix: str
    lat: tuple[float, float]
    lng: tuple[float, float]
    roads: tuple[str, ...]
    areas: tuple[str, ...]


DISTRICTS: tuple[District, ...] = (
    District("350203", "思明区", "SM", (24.45, 24.50), (118.08, 118.20),
             ("中山路", "思明南路", "厦禾路", "湖滨南路", "湖滨北路", "莲前东路", "莲前西路", "禾祥西路", "鹭江道",
              "文园路", "莲花路", "育秀东路", "嘉禾路", "环岛东路"),
             ("莲前", "中山路", "莲花", "瑞景", "前埔", "筼筜", "湖滨", "厦大", "禾祥", "松柏")),
    District("350205", "海沧区", "HC", (24.45, 24.55), (117.95, 118.05),
             ("海沧大道", "沧林路", "马青路", "钟林路", "滨湖北路", "新阳路", "兴港路", "沧虹路", "翁角路"),
             ("海沧湾", "新阳", "东孚", "嵩屿", "未来海岸", "天竺", "海虹", "滨湖")),
    District("350206", "湖里区", "HL", (24.49, 24.56), (118.08, 118.20),
             ("湖里大道", "枋湖路", "金尚路", "仙岳路", "安岭路", "吕岭路", "金湖路", "兴隆路", "高林中路",
              "五缘湾道", "云顶北路"),
             ("江头", "五缘湾", "金山", "禾山", "殿前", "高崎", "枋湖", "蔡塘", "长乐", "乌石浦")),
    District("350211", "集美区", "JM", (24.57, 24.68), (117.95, 118.12),
             ("集美大道", "杏林湾路", "银江路", "岑西路", "乐海路", "侨英路", "杏林路", "灌口中路", "孙坂南路",
              "软件园三期大道"),
             ("集美学村", "杏林", "侨英", "灌口", "后溪", "软件园", "杏滨", "孙坂", "董任")),
    District("350212", "同安区", "TA", (24.72, 24.80), (118.10, 118.20),
             ("环城南路", "环城东路", "大同路", "同集中路", "祥平路", "银湖中路", "西湖路", "凤南路", "城南路"),
             ("大同", "祥平", "西柯", "五显", "新民", "梧侣", "凤南", "银湖")),
    District("350213", "翔安区", "XA", (24.60, 24.70), (118.23, 118.33),
             ("翔安南路", "翔安北路", "民安大道", "马巷大道", "舫山北路", "新店路", "翔安西路", "洪钟大道"),
             ("马巷", "新店", "新圩", "内厝", "大嶝", "舫山", "鼓锣", "洪前")),
)

BRANDS = ("鹭岛大药房", "白鹭康健大药房", "嘉禾堂药房", "海西百姓大药房", "闽南仁心堂药房", "厦康大药房",
          "惠民大药房", "益康药房", "同济堂大药房", "健民药房")
STREET_SUFFIXES = ("百姓药房", "平价药房", "大药房", "社区药房", "便民药房")
HOURS = ("08:00-22:00", "08:00-22:00", "08:30-21:30", "07:30-22:30", "24小时")
OUTLETS_PER_DISTRICT = 10

SURNAMES = "陈林黄李王张吴刘郑蔡许杨洪谢曾苏周叶庄柯卢郭傅施"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志鹏晓燕雅婷思琪子涵宇轩浩然欣怡佳琪"
MOBILE_PREFIXES = ("135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "186", "187", "188",
                   "189", "177")

# Region codes a Xiamen resident's ID number may start with, and the birth years each code existed for
# (stdnum's cn/loc table): (code, first year, last year).
REGIONS: tuple[tuple[str, int, int], ...] = (
    ("350203", 1983, 9999), ("350205", 1983, 9999), ("350206", 1987, 9999), ("350211", 1983, 9999),
    ("350212", 1996, 9999), ("350213", 2003, 9999), ("350220", 0, 1983), ("350221", 0, 1996),
    ("350200", 0, 9999),
)
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

PRIVACY_NOTICE = (
    "个人信息收集说明（版本 2026-1）\n"
    "目的：仅用于本次口罩预约的资格核验、每日摇号、中签通知和药店核销，不用于其他用途。\n"
    "接收方：厦门市口罩预约工作组及您选择或被分配的药店（药店仅能看到登记号和核销码）；"
    "公证机构只接收不含个人信息的摇号数据。\n"
    "保存期限：身份证号和手机号仅以加密和密钥散列形式保存，活动结束后 30 天内删除；"
    "公开的摇号记录只含随机登记编号，不含任何个人信息。\n"
    "您可拨打 12345 查询、更正或申诉。")
RULES_TEXT = (
    "每日 09:00 摇号，公证处监督；09:00 前完成预约的参加当天摇号，之后的参加次日摇号。"
    "中签者次日 08:00–22:00 凭核销码到所选药店购买一次性医用口罩 5 只。"
    "未中签者自动进入下一天的摇号，连续未中签每天增加一份权重，最多 3 份。"
    "中签后 7 天内不能再次预约（厦门设 7 天，广州为 10 天）。"
    "每天 22:00–24:00 系统维护，暂停预约。"
    "【演示】本演示使用本地合成随机信标，并非公开信标，仅供体验。")
APPEAL_INFO = "厦门市 12345 便民服务热线，或户籍所在地派出所、社保经办机构"


@dataclass
class DemoReport:
    divisions: int = 0
    districts: list[str] = field(default_factory=list)
    outlets_created: int = 0
    outlets_updated: int = 0
    outlet_errors: list[str] = field(default_factory=list)
    committees: int = 0
    lists: dict[str, int] = field(default_factory=dict)
    supply_rounds: list[str] = field(default_factory=list)
    supply_packs: int = 0
    supply_skipped: list[str] = field(default_factory=list)
    round_date: str = ""
    registered: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    accounts: list[tuple[str, str, str]] = field(default_factory=list)
    demo_name: str = ""
    demo_id: str = ""
    demo_phone: str = ""
    synthetic_beacon_allowed: bool = True


def _id_number(rng: random.Random, used: set[str]) -> str:
    while True:
        year = rng.randint(1950, 2005)
        region = rng.choice([c for c, lo, hi in REGIONS if lo <= year <= hi and c != "350200"] or ["350200"])
        born = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))
        body = f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"
        number = body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _W, strict=True)) % 11]
        if number in used:
            continue
        used.add(normalize_id_number(number))  # raises if stdnum disagrees: a bug in this generator
        return number


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _phone(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def outlets_csv(rng: random.Random) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "name", "district_code", "address", "latitude", "longitude", "opening_hours", "phone",
                     "status"])
    for d in DISTRICTS:
        names: set[str] = set()
        areas = list(d.areas)
        rng.shuffle(areas)
        for i in range(1, OUTLETS_PER_DISTRICT + 1):
            road = rng.choice(d.roads)
            while True:
                if i % 3 == 0:
                    name = f"{d.name}{road}{rng.choice(STREET_SUFFIXES)}"
                else:
                    name = f"{rng.choice(BRANDS)}（{areas[i % len(areas)]}店）"
                if name not in names:
                    break
                road = rng.choice(d.roads)
            names.add(name)
            if i == 1 and d.code == "350203":
                name, road = "鹭岛大药房（莲前店）", "莲前东路"
            address = f"厦门市{d.name}{road}{rng.randint(1, 999)}号{rng.choice(('', '', '之一', '101室', '一楼店面'))}"
            writer.writerow([
                f"XM-{d.prefix}-{i:03d}", name, d.code, address,
                f"{rng.uniform(*d.lat):.6f}", f"{rng.uniform(*d.lng):.6f}", rng.choice(HOURS),
                f"0592-{rng.randint(2000000, 7999999)}", "open"])
    return out.getvalue()


def _campaign(lists: list[EligibilityList], today: dt.date) -> Campaign:
    city = Division.objects.get(code=CITY)
    config = {
        "name": "厦门市口罩预约", "good": "一次性医用口罩", "unit_label": "只", "units_per_winner": 5, "city": city,
        "time_zone": "Asia/Shanghai", "status": Campaign.Status.ACTIVE, "ends_on": None,
        "draw_time": dt.time(9, 0), "pickup_day_offset": 1, "pickup_start": dt.time(8, 0),
        "pickup_end": dt.time(22, 0), "maintenance_start": dt.time(22, 0), "maintenance_end": dt.time(0, 0),
        "cooldown_days": 7, "rollover_losers": True, "weight_rule": Campaign.WeightRule.LOSSES, "weight_cap": 3,
        "beacon_kind": Campaign.Beacon.SYNTHETIC, "min_gap_seconds": 30, "notary_digits_min": 6,
        "consent_version": "2026-1", "privacy_notice": PRIVACY_NOTICE, "appeal_info": APPEAL_INFO,
        "rules_text": RULES_TEXT}
    campaign, _created = Campaign.objects.update_or_create(
        slug=CAMPAIGN_SLUG, defaults=config, create_defaults={**config, "starts_on": today})
    campaign.eligibility_lists.set(lists)
    return campaign


def _eligibility(rng: random.Random, report: DemoReport) -> tuple[list[str], list[str], list[EligibilityList]]:
    used: set[str] = set()
    hukou = [_id_number(rng, used) for _ in range(2400)]
    social_only = [_id_number(rng, used) for _ in range(1000)]
    social = hukou[:600] + social_only
    lists = []
    for code, name, source, ids in (
            ("xiamen-hukou", "厦门户籍", "厦门市公安局户政管理部门（演示数据）", hukou),
            ("xiamen-social-insurance", "厦门社保", "厦门市社会保险管理中心（演示数据）", social)):
        lst, _c = EligibilityList.objects.update_or_create(
            code=code, defaults={"name": name, "source": source, "appeal_info": APPEAL_INFO})
        eligibility_import_csv(eligibility_list=lst, text="id_number\n" + "\n".join(ids) + "\n")
        lst.refresh_from_db()
        report.lists[code] = lst.size
        lists.append(lst)
    return hukou, social_only, lists


def _registrations(rng: random.Random, campaign: Campaign, people: list[str], outlets: list[Outlet],
                   now: dt.datetime, report: DemoReport) -> None:
    if campaign_selectors.in_maintenance(campaign, now) and campaign.maintenance_start is not None:
        # Registration is closed 22:00–24:00; the demo data is entered as of just before, same round.
        local = campaign_selectors.local_now(campaign, now)
        now = dt.datetime.combine(local.date(), campaign.maintenance_start, tzinfo=campaign.tz) - dt.timedelta(
            minutes=1)
    weights = {"350203": 5, "350206": 5, "350211": 3, "350205": 2, "350212": 2, "350213": 2}
    by_district: dict[str, list[Outlet]] = {}
    for o in outlets:
        by_district.setdefault(o.district_id, []).append(o)
    codes = sorted(by_district)
    for id_number in people:
        district = rng.choices(codes, weights=[weights.get(c, 1) for c in codes])[0]
        outlet = rng.choice(by_district[district])
        accept_any = rng.random() < 0.3
        request = RegistrationRequest(
            name=_name(rng), id_number=id_number, phone=_phone(rng), district=district,
            outlet="" if accept_any and rng.random() < 0.3 else outlet.code, accept_any=accept_any, consent=True)
        channel = rng.choices([Registration.Channel.WEB, Registration.Channel.API], weights=[4, 1])[0]
        try:
            reg = registration_create(campaign=campaign, request=request, channel=channel, now=now)
        except DomainError as exc:
            report.skipped[exc.code] = report.skipped.get(exc.code, 0) + 1
        else:
            report.registered += 1
            report.round_date = reg.round.draw_date.isoformat()


def load(*, seed: int = 2026, days: int = 3, registrations: int = 300, now: dt.datetime | None = None
         ) -> DemoReport:
    now = now or timezone.now()
    rng = random.Random(seed)
    report = DemoReport(synthetic_beacon_allowed=bool(settings.ALLOT_ALLOW_SYNTHETIC_BEACON))

    report.divisions = divisions_import(province_code="35")
    report.districts = [f"{d.name} {d.code}" for d in Division.objects.filter(parent_id=CITY).order_by("code")]
    outlet_report = outlets_import_csv(text=outlets_csv(rng))
    report.outlets_created, report.outlets_updated = outlet_report.created, outlet_report.updated
    report.outlet_errors = outlet_report.errors
    places = places_import_csv(text=PLACES_CSV.read_text(encoding="utf-8"))
    report.committees = places.created + places.updated

    hukou, social_only, lists = _eligibility(rng, report)
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    campaign = _campaign(lists, today)

    outlets = list(Outlet.objects.filter(code__startswith="XM-", district__parent_id=CITY,
                                         status=Outlet.Status.OPEN).order_by("code"))
    first_round = campaign_selectors.draw_date_for(campaign, now)
    clerk_outlet = next(o for o in outlets if o.district_id == DISTRICTS[0].code)  # the first 思明 pharmacy
    for offset in range(days + 1):
        round_ = round_get_or_create(campaign=campaign, draw_date=first_round + dt.timedelta(days=offset))
        if round_.state != Round.State.OPEN:
            report.supply_skipped.append(round_.draw_date.isoformat())
            continue
        for outlet in outlets:
            # Scarce on purpose (a lottery with no losers shows nothing): 1–4 packs a pharmacy against ~5
            # registrations each, except the demo clerk's pharmacy, stocked for the README walk-through.
            packs = 40 if outlet.pk == clerk_outlet.pk else rng.randint(1, 4)
            supply_set(round_=round_, outlet=outlet, packs=packs)
            report.supply_packs += packs
        report.supply_rounds.append(round_.draw_date.isoformat())

    for username, role, password, outlet_code, superuser in (
            ("operator", "operator", "demo-operator-2026", "", True),
            ("notary", "notary", "demo-notary-2026", "", False),
            ("clerk", "clerk", "demo-clerk-2026", clerk_outlet.code, False)):
        account = staff_account_upsert(username=username, role=role, password=password, outlet_code=outlet_code,
                                       campaign_slugs=[] if role == "clerk" else [campaign.slug],
                                       superuser=superuser)
        where = f"clerk at {clerk_outlet.name} {clerk_outlet.code}" if role == "clerk" else (
            "operator, admin superuser" if role == "operator" else "notary")
        report.accounts.append((account.user.get_username(), password, where))

    pool = hukou[:registrations // 2] + social_only[:registrations - registrations // 2]
    _registrations(rng, campaign, pool, outlets, now, report)

    # A resident who is on the hukou list and has never registered, for the README walkthrough.
    for candidate in hukou[registrations:]:
        if not Person.objects.filter(id_index=id_index(candidate)).exists():
            report.demo_id = candidate
            break
    demo_rng = random.Random(f"{seed}-demo-resident")
    report.demo_name, report.demo_phone = _name(demo_rng), _phone(demo_rng)
    return report
