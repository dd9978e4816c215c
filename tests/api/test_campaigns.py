"""GET /campaigns, /campaigns/{slug}, /campaigns/{slug}/districts and the outlets of a district."""

from __future__ import annotations

import datetime as dt

from allot.campaigns.models import Campaign
from allot.campaigns.selectors import draw_date_for
from allot.campaigns.services import round_get_or_create, supply_set
from allot.identity.models import EligibilityList
from allot.registrations.services import registration_create
from tests.api.conftest import SLUG, assert_errors
from tests.conftest import registration_request


def test_campaign_list_shows_active_campaigns_with_their_rules(xiamen, client_api):
    # given an active campaign with an eligibility list, and a draft one
    xiamen.campaign.eligibility_lists.add(EligibilityList.objects.create(code="xm-hukou", name="厦门户籍"))
    Campaign.objects.create(slug="draft", name="草稿", good="口罩", city=xiamen.campaign.city,
                            starts_on=dt.date(2020, 1, 1))

    # when
    response = client_api.get("/campaigns")

    # then
    assert response.status_code == 200
    [c] = response.json()
    assert c["slug"] == SLUG
    assert c["city"] == {"code": "3502", "name": xiamen.campaign.city.name}
    assert c["draw_time"] == "09:00:00"
    assert c["pickup_window"] == {"day_offset": 1, "start": "08:00:00", "end": "22:00:00"}
    assert c["maintenance_window"] is None
    assert c["eligibility_lists"] == ["厦门户籍"]
    assert (c["units_per_winner"], c["unit_label"], c["status"]) == (5, "只", "active")


def test_campaign_detail_shows_the_numbers_of_the_next_draw(xiamen, client_api):
    # given two packs at one outlet and one registration for the current round
    c = xiamen.campaign
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=2)
    registration_create(campaign=c, request=registration_request(1))

    # when
    response = client_api.get(f"/campaigns/{SLUG}")

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["today"]["draw_date"] == round_.draw_date.isoformat()
    assert body["today"]["draw_at"] == f"{round_.draw_date.isoformat()}T09:00:00+08:00"
    assert (body["today"]["registered"], body["today"]["packs"], body["today"]["units"]) == (1, 2, 10)
    assert body["in_maintenance"] is False
    assert body["appeal_info"] == "厦门市12345热线"


def test_campaign_detail_says_when_registration_is_in_maintenance(xiamen, client_api):
    # given a maintenance window around the current time in Asia/Shanghai
    c = xiamen.campaign
    local = dt.datetime.now(tz=c.tz)
    c.maintenance_start = (local - dt.timedelta(hours=1)).time().replace(microsecond=0)
    c.maintenance_end = (local + dt.timedelta(hours=1)).time().replace(microsecond=0)
    c.save()

    # when
    body = client_api.get(f"/campaigns/{SLUG}").json()

    # then
    assert body["in_maintenance"] is True
    assert body["maintenance_window"]["start"] == c.maintenance_start.isoformat()


def test_campaign_detail_of_an_unknown_campaign_is_campaign_not_found(db, client_api):
    assert_errors(client_api.get("/campaigns/nope"), 404, "campaign_not_found")


def test_campaign_detail_of_a_draft_campaign_is_campaign_not_found(xiamen, client_api):
    Campaign.objects.filter(pk=xiamen.campaign.pk).update(status=Campaign.Status.DRAFT)
    assert_errors(client_api.get(f"/campaigns/{SLUG}"), 404, "campaign_not_found")


def test_districts_lists_the_six_districts_of_xiamen(xiamen, client_api):
    response = client_api.get(f"/campaigns/{SLUG}/districts")

    assert response.status_code == 200
    codes = [d["code"] for d in response.json()]
    assert codes == ["350203", "350205", "350206", "350211", "350212", "350213"]
    assert {"code": "350203", "name": xiamen.siming.name} in response.json()


def test_districts_of_an_unknown_campaign_is_campaign_not_found(db, client_api):
    assert_errors(client_api.get("/campaigns/nope/districts"), 404, "campaign_not_found")


def test_outlets_of_a_district_show_the_current_draws_stock(xiamen, client_api):
    # given
    c = xiamen.campaign
    supply_set(round_=round_get_or_create(campaign=c, draw_date=draw_date_for(c)), outlet=xiamen.outlets[1],
               packs=3)

    # when
    response = client_api.get(f"/campaigns/{SLUG}/districts/350203/outlets")

    # then
    assert response.status_code == 200
    rows = {r["code"]: r for r in response.json()}
    assert set(rows) == {"XM-SM-001", "XM-SM-002"}
    assert (rows["XM-SM-002"]["packs"], rows["XM-SM-002"]["units"]) == (3, 15)
    assert (rows["XM-SM-001"]["packs"], rows["XM-SM-001"]["distance_m"]) == (0, None)


def test_outlets_with_a_location_are_nearest_first_with_distance(xiamen, client_api):
    # when standing next to the second pharmacy
    response = client_api.get(f"/campaigns/{SLUG}/districts/350203/outlets?lat=24.4701&lng=118.1001")

    # then
    rows = response.json()
    assert [r["code"] for r in rows] == ["XM-SM-002", "XM-SM-001"]
    assert rows[0]["distance_m"] < 50 < rows[1]["distance_m"]


def test_outlets_of_a_district_outside_the_city_is_district_not_found(xiamen, client_api):
    # 350102 is Fuzhou's Gulou district: real, but not in the campaign's city
    assert_errors(client_api.get(f"/campaigns/{SLUG}/districts/350102/outlets"), 404, "district_not_found",
                  field="code")


def test_outlets_of_an_unknown_campaign_is_campaign_not_found(db, client_api):
    assert_errors(client_api.get("/campaigns/nope/districts/350203/outlets"), 404, "campaign_not_found")


def test_outlets_with_latitude_but_no_longitude_is_rejected(xiamen, client_api):
    assert_errors(client_api.get(f"/campaigns/{SLUG}/districts/350203/outlets?lat=24.4"), 400, "missing",
                  field="lng")


def test_outlets_with_a_latitude_out_of_range_is_invalid(xiamen, client_api):
    assert_errors(client_api.get(f"/campaigns/{SLUG}/districts/350203/outlets?lat=91&lng=118"), 400,
                  "invalid", field="lat")


def test_outlets_with_a_latitude_that_is_not_a_number_is_invalid(xiamen, client_api):
    assert_errors(client_api.get(f"/campaigns/{SLUG}/districts/350203/outlets?lat=north&lng=118"), 400,
                  "invalid", field="lat")


def test_after_a_draw_now_the_detail_shows_the_next_open_draw(drawn, client_api):
    body = client_api.get(f"/campaigns/{SLUG}").json()

    assert body["today"]["draw_date"] == (drawn.draw.round.draw_date + dt.timedelta(days=1)).isoformat()
    assert body["today"]["registered"] == 2  # the two losers rolled over


def test_campaign_list_query_count_does_not_grow_with_campaigns(xiamen, client_api, django_assert_max_num_queries):
    for i in range(5):
        c = Campaign.objects.create(slug=f"c{i}", name=f"活动{i}", good="口罩", city=xiamen.campaign.city,
                                    status=Campaign.Status.ACTIVE, starts_on=dt.date(2020, 1, 1))
        c.eligibility_lists.add(EligibilityList.objects.create(code=f"l{i}", name=f"名单{i}"))

    with django_assert_max_num_queries(3):
        assert len(client_api.get("/campaigns").json()) == 6
