"""One populated city for the security tests, built through the real services: two campaigns, a drawn round
with winners, staff of every role (each with a wrong-scope twin), an eligibility list, an access-log row and an
export. ``City.people`` holds each resident's values in every spelling a leak could take."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model

from tests.conftest import make_id_number, registration_request

NAMES = ["欧阳明远", "司马晓燕", "诸葛文博", "上官雨桐", "慕容子轩"]
PASSWORD = "staff-pass-123"


@dataclass
class Resident:
    n: int
    name: str
    id_number: str
    phone: str  # E.164

    @property
    def spellings(self) -> list[str]:
        national = self.phone.removeprefix("+86")
        return [self.id_number, self.id_number.lower(), national, self.phone, f"{national[:3]} {national[3:7]} "
                f"{national[7:]}", f"{national[:3]}-{national[3:7]}-{national[7:]}", self.name]


@dataclass
class City:
    xiamen: Any
    campaign: Any
    other_campaign: Any
    draw: Any
    registrations: list[Any]
    other_registration: Any
    residents: list[Resident]
    users: dict[str, Any] = field(default_factory=dict)
    committee: Any = None
    other_committee: Any = None
    export: Any = None
    other_export: Any = None

    def masked_forms(self) -> list[str]:
        return [m for r in self.registrations for m in (r.person.id_masked, r.person.phone_masked)]

    def leaks(self, text: str) -> list[str]:
        return sorted({s for r in self.residents for s in r.spellings if s in text})


def _user(username: str, role: str, **profile: Any) -> Any:
    from allot.staff.models import StaffProfile

    user = get_user_model().objects.create_user(username=username, password=PASSWORD,
                                                is_staff=role == StaffProfile.Role.OPERATOR)
    campaigns = profile.pop("campaigns", [])
    p = StaffProfile.objects.create(user=user, role=role, **profile)
    p.campaigns.set(campaigns)
    return user


def build_city(xiamen: Any, capture_on_commit: Any) -> City:
    from allot.campaigns.models import Campaign
    from allot.campaigns.selectors import draw_date_for
    from allot.campaigns.services import round_get_or_create, supply_set
    from allot.draws.services import draw_run_now
    from allot.identity.models import EligibilityList
    from allot.identity.services import eligibility_import_csv
    from allot.places.models import Committee
    from allot.places.services import places_import_csv
    from allot.privacy import services as privacy_services
    from allot.registrations.services import registration_create
    from allot.staff.models import StaffProfile

    Role = StaffProfile.Role
    c = xiamen.campaign
    residents = [Resident(n=i, name=NAMES[i - 1], id_number=make_id_number(seq=i), phone=f"+8613{i}0012{i}45{i}")
                 for i in range(1, 6)]
    lst = EligibilityList.objects.create(code="hukou", name="厦门户籍")
    c.eligibility_lists.add(lst)
    eligibility_import_csv(eligibility_list=lst, text="id_number\n" + "\n".join(r.id_number for r in residents))
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=2)
    supply_set(round_=round_, outlet=xiamen.outlets[2], packs=1)
    regs = []
    for r in residents[:4]:
        outlet, district = ("XM-HL-001", "350206") if r.n == 4 else ("XM-SM-001", "350203")
        regs.append(registration_create(campaign=c, request=registration_request(
            r.n, name=r.name, id_number=r.id_number, phone=r.phone, outlet=outlet, district=district)))
    with capture_on_commit(execute=True):
        draw = draw_run_now(campaign=c)
    other = Campaign.objects.create(
        slug="other-masks", name="另一个活动", good="口罩", city=c.city, status=Campaign.Status.ACTIVE,
        starts_on=dt.date(2020, 1, 1), beacon_kind=Campaign.Beacon.SYNTHETIC, min_gap_seconds=0,
        maintenance_start=None, maintenance_end=None)
    r5 = residents[4]
    other_reg = registration_create(campaign=other, request=registration_request(
        r5.n, name=r5.name, id_number=r5.id_number, phone=r5.phone))
    places_import_csv(text="district_code,street_code,street_name,committee_code,committee_name\n"
                           "350203,350203001,中华街道,350203001001,中华社区居委会\n"
                           "350206,350206001,湖里街道,350206001001,湖里社区居委会\n")
    city = City(xiamen=xiamen, campaign=c, other_campaign=other, draw=draw, registrations=regs,
                other_registration=other_reg, residents=residents)
    city.committee = Committee.objects.get(code="350203001001")
    city.other_committee = Committee.objects.get(code="350206001001")
    u = city.users
    u["clerk"] = _user("clerk", Role.CLERK, outlet=xiamen.outlets[0])
    u["other_clerk"] = _user("other_clerk", Role.CLERK, outlet=xiamen.outlets[2])
    u["committee"] = _user("committee", Role.COMMITTEE, committee=city.committee)
    u["other_committee"] = _user("other_committee", Role.COMMITTEE, committee=city.other_committee)
    u["notary"] = _user("notary", Role.NOTARY, campaigns=[c])
    u["other_notary"] = _user("other_notary", Role.NOTARY, campaigns=[other])
    u["operator"] = _user("operator", Role.OPERATOR, campaigns=[c])
    u["operator2"] = _user("operator2", Role.OPERATOR, campaigns=[c])
    u["other_operator"] = _user("other_operator", Role.OPERATOR, campaigns=[other])
    u["superuser"] = get_user_model().objects.create_superuser(username="root", password=PASSWORD)
    privacy_services.person_reveal(actor=u["operator"], registration_pk=regs[0].pk,
                                   purpose="Resident called the hotline about a lost code")
    city.export = privacy_services.export_request(actor=u["operator"], campaign=c,
                                                  purpose="Weekly report to the health commission")
    city.other_export = privacy_services.export_request(actor=u["other_operator"], campaign=other,
                                                        purpose="Weekly report to the health commission")
    for reg in regs:
        reg.refresh_from_db()
    return city
