"""The address pre-fill on the claim page (no JavaScript: a POST that comes back with the fields filled in) and in
the API (POST /api/v1/campaigns/{slug}/address/guess): the resident's other input is kept, no claim is made, no
proof of work is spent, no claim rate limit is counted, nothing is stored or logged."""

from __future__ import annotations

import json
import logging
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client

from allot.core.models import AuditLog
from allot.firstcome.models import Claim
from allot.firstcome.services import claim_create
from tests.abuse.proof import solved
from tests.conftest import make_id_number
from tests.firstcome.hangzhou import SLUG, build_hangzhou, claim_body, claim_request

URL = f"/c/{SLUG}/claim/"
PREFILL_URL = f"/c/{SLUG}/claim/prefill/"
API = f"/api/v1/campaigns/{SLUG}/address/guess"
PASTED = "浙江省杭州市西湖区北山街道曙光社区5栋1单元502室 东门快递柜"


class _Fields(HTMLParser):
    """The claim form as the browser would submit it: inputs, the selected options, textareas, checkboxes."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.submits: list[dict[str, str]] = []
        self.selects: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("action") == URL:
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input" and a.get("type") == "submit":
            self.submits.append(a)
        elif tag == "input" and a.get("type") == "checkbox":
            if "checked" in a:
                self.values[a["name"]] = "on"
        elif tag == "input" and a.get("name"):
            self.values[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
            self.selects[self._select] = []
            self.values.setdefault(self._select, "")
        elif tag == "option" and self._select:
            self.selects[self._select].append(a.get("value", ""))
            if "selected" in a:
                self.values[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[self._textarea] = ""
        elif tag == "button" and a.get("type") == "submit":
            self.submits.append({"type": "submit", "button": "1", **a})

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._in_form = False

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data.removeprefix("\n") if not self.values[self._textarea] else data


def fields(response: Any) -> _Fields:
    parser = _Fields()
    parser.feed(response.content.decode())
    return parser


def typed(n: int = 1, **over: str) -> dict[str, str]:
    """What a resident has typed on the form for 西湖区 › 北山街道 before pasting an address."""
    data = {"name": "王五", "id_number": make_id_number(region="330106", seq=n), "phone": "139 0000 0001",
            "district": "330106", "street": "330106001000", "outlet": "", "committee": "", "building": "",
            "unit": "", "room": "", "line": "", "consent": "on", "altcha": "", "paste": PASTED}
    data.update(over)
    return data


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="zh-hans")


# --- the claim page -------------------------------------------------------------------------------------

def test_the_form_offers_the_paste_box_and_enter_still_claims(hangzhou, client):
    response = client.get(URL, {"district": "330106", "street": "330106001000"})

    page = fields(response)
    assert "paste" in page.values and "粘贴地址，自动填写" in response.content.decode()
    prefill = next(s for s in page.submits if s.get("name") == "prefill")
    assert prefill["formaction"] == PREFILL_URL
    # the browser's default button (Enter in a field) is the first submit control: a claim, not the pre-fill
    assert "name" not in page.submits[0] and "formaction" not in page.submits[0]


def test_the_paste_box_speaks_english_too(hangzhou):
    body = Client(HTTP_ACCEPT_LANGUAGE="en").get(URL, {"district": "330106", "street": "330106001000"}).content

    assert b"Paste an address to fill in the fields" in body and b'value="Fill in the fields"' in body


def test_a_pickup_campaign_has_no_paste_box(db, client):
    build_hangzhou(fulfilment="pickup")

    page = fields(client.get(URL))

    assert "paste" not in page.values and all(s.get("name") != "prefill" for s in page.submits)


def test_the_prefill_fills_the_address_and_keeps_everything_else(hangzhou, client):
    response = client.post(PREFILL_URL, typed())

    assert response.status_code == 200
    assert Claim.objects.count() == 0
    page = fields(response)
    v = page.values
    assert (v["name"], v["id_number"], v["phone"], v.get("consent")) == (
        "王五", make_id_number(region="330106", seq=1), "139 0000 0001", "on")
    assert (v["district"], v["street"], v["committee"]) == ("330106", "330106001000", "330106001002")
    assert (v["building"], v["unit"], v["room"], v["line"]) == ("5", "1", "502", "东门快递柜")
    assert v["paste"] == PASTED
    assert "已根据粘贴的地址自动填写" in response.content.decode()


def test_the_claim_url_answers_a_prefill_post_the_same_way_without_a_claim(hangzhou, client):
    response = client.post(URL, {**typed(), "prefill": "自动填写"})

    assert response.status_code == 200
    assert Claim.objects.count() == 0
    assert fields(response).values["committee"] == "330106001002"


def test_the_prefilled_form_claims_as_shown(hangzhou, client):
    page = fields(client.post(PREFILL_URL, typed()))

    response = client.post(URL, {**page.values, "altcha": solved("claim")})

    assert response.status_code == 302
    parcel = Claim.objects.select_related("parcel").get().parcel
    assert (parcel.district_id, parcel.street.code, parcel.committee.code) == ("330106", "330106001000", "330106001002")
    assert (parcel.building, parcel.unit, parcel.room, parcel.line) == ("5", "1", "502", "东门快递柜")


def test_prefills_spend_no_proof_of_work_and_count_no_claim_limit(hangzhou, client):
    # the claim limit per ID number is 5 an hour (allot/verification/ratelimit.py)
    for _ in range(7):
        assert client.post(PREFILL_URL, typed(altcha="")).status_code == 200

    response = client.post(URL, {**fields(client.post(PREFILL_URL, typed())).values, "altcha": solved("claim")})

    assert response.status_code == 302
    assert Claim.objects.count() == 1


def test_what_the_form_already_has_is_not_asked_for_again(hangzhou, client):
    response = client.post(PREFILL_URL, typed(paste="杭州 西湖区 文三路社区 12号楼 1单元 502"))

    body = response.content.decode()
    assert fields(response).values["street"] == "330106001000"  # the street chosen before stays
    assert "请选择您在西湖区的街道/镇" not in body
    assert "“文三路社区”不在" in body


def test_another_district_changes_the_lists_and_drops_the_old_community(hangzhou, client):
    response = client.post(PREFILL_URL, typed(district="330102", street="330102001000", committee="330102001001",
                                              paste="西湖区北山街道北山社区3幢"))

    page = fields(response)
    assert (page.values["district"], page.values["street"], page.values["committee"]) == (
        "330106", "330106001000", "330106001001")
    assert "西湖区 › 北山街道" in response.content.decode()


def test_a_district_without_its_street_offers_the_streets(hangzhou, client):
    response = client.post(PREFILL_URL, typed(district="330102", street="330102001000", paste="杭州 西湖区 3幢 2单元"))

    page = fields(response)
    assert page.values["district"] == "330106"
    assert page.selects["street"] == ["", "330106001000", "330106004000"]
    assert (page.values["building"], page.values["unit"]) == ("3", "2")
    assert "请选择您在西湖区的街道/镇" in response.content.decode()


def test_an_address_in_another_city_is_said_and_changes_nothing_placed(hangzhou, client):
    response = client.post(PREFILL_URL, typed(paste="宁波市海曙区鼓楼街道"))

    page = fields(response)
    assert (page.values["district"], page.values["street"]) == ("330106", "330106001000")
    assert "海曙区属于宁波市" in response.content.decode()


def test_an_empty_paste_asks_for_one_and_keeps_the_form(hangzhou, client):
    response = client.post(PREFILL_URL, typed(paste="  ", building="7"))

    assert response.status_code == 200
    assert fields(response).values["building"] == "7"
    assert "请先把地址粘贴到上面的框中" in response.content.decode()


def test_a_prefill_when_sold_out_gets_the_sold_out_page(hangzhou, client):
    for n in range(3):
        claim_create(campaign=hangzhou, request=claim_request(n + 10))
    client.post(URL, claim_body(7))  # finds the quota gone and sets the flag

    response = client.post(PREFILL_URL, typed())

    assert response.status_code == 409
    assert "今日名额已领完" in response.content.decode()


def test_a_prefill_get_goes_to_the_form(hangzhou, client):
    assert client.get(PREFILL_URL)["Location"] == URL


# --- the API --------------------------------------------------------------------------------------------

def _api(body: Any, lang: str = "zh-hans") -> Any:
    return Client().post(API, data=json.dumps(body), content_type="application/json", HTTP_ACCEPT_LANGUAGE=lang)


def test_the_api_answers_the_fields_with_names_and_codes(hangzhou, caplog):
    caplog.set_level(logging.DEBUG)
    audited = AuditLog.objects.count()

    response = _api({"text": "收货人：王小五 139 1234 5678 " + PASTED})

    assert response.status_code == 200
    body = response.json()
    assert body["district"] == {"code": "330106", "name": "西湖区"}
    assert body["street"] == {"code": "330106001000", "name": "北山街道"}
    assert body["committee"] == {"code": "330106001002", "name": "曙光社区"}
    assert (body["building"], body["unit"], body["room"], body["line"]) == ("5", "1", "502", "东门快递柜")
    assert {n["code"] for n in body["unplaced"]} == {"address_phone_left_out", "address_name_left_out"}
    assert response["Cache-Control"] == "no-store"
    assert AuditLog.objects.count() == audited and Claim.objects.count() == 0
    assert "东门快递柜" not in caplog.text and "1234" not in caplog.text


def test_the_api_says_what_it_could_not_place_in_the_language_asked(hangzhou):
    body = _api({"text": "上城区北山街道3幢"}, lang="en").json()

    assert body["district"] == {"code": "330102", "name": "上城区"} and body["street"] is None
    mismatch = next(n for n in body["unplaced"] if n["code"] == "address_street_mismatch")
    assert mismatch["text"] == "北山街道" and "is in 西湖区, not in 上城区" in mismatch["message"]


@pytest.mark.parametrize(("body", "code"), [
    ({"text": "西" * 201}, "too_long"),
    ({"text": "西湖区", "district": "330106"}, "unexpected_field"),
    ({}, "missing"),
])
def test_the_api_refuses_bad_bodies(hangzhou, body, code):
    response = _api(body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == code


def test_the_api_knows_only_first_come_campaigns(hangzhou, xiamen):
    assert Client().post("/api/v1/campaigns/xiamen-masks/address/guess", data='{"text": "思明区"}',
                         content_type="application/json").status_code == 404


def test_the_operation_is_in_the_openapi_document(db):
    doc = Client().get("/api/v1/openapi.json").json()

    op = doc["paths"]["/api/v1/campaigns/{slug}/address/guess"]["post"]
    assert op["operationId"] == "address_guess"
    assert set(op["responses"]) == {"200", "400", "404"}
    assert doc["components"]["schemas"]["AddressGuessIn"]["additionalProperties"] is False
    assert doc["components"]["schemas"]["AddressGuessIn"]["properties"]["text"]["maxLength"] == 200
