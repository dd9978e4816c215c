"""POST /registrations/lookup: by registration number plus ID number, never by ID number alone."""

from __future__ import annotations

from allot.core.codes import group
from allot.registrations.services import registration_create
from tests.api.conftest import assert_errors
from tests.conftest import make_id_number, registration_request

URL = "/registrations/lookup"


def test_lookup_shows_a_waiting_registration_masked(xiamen, client_api):
    # given
    reg = registration_create(campaign=xiamen.campaign, request=registration_request(1))

    # when the resident types the number in lower case with a hyphen
    response = client_api.post(URL, {"number": group(reg.number).lower(), "id_number": make_id_number(seq=1)})

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["number"], body["status"], body["campaign"]) == (reg.number, "registered", "xiamen-masks")
    assert body["id_masked"] == reg.person.id_masked
    assert (body["pickup"], body["rolled_over_to"], body["draw_id"]) == (None, None, None)


def test_lookup_of_a_winner_shows_the_pickup_code_and_window(drawn, client_api):
    # when
    response = client_api.post(URL, {"number": drawn.winner.number, "id_number": make_id_number(seq=drawn.winner_n)})

    # then
    body = response.json()
    pc = drawn.winner.pickup
    assert body["status"] == "won"
    assert body["draw_id"] == drawn.draw.draw_id
    assert body["pickup"]["code"] == pc.code
    assert body["pickup"]["code_grouped"] == group(pc.code)
    assert body["pickup"]["outlet"] == {"code": "XM-SM-001", "name": "思明第一药房"}
    assert body["pickup"]["valid_until"].endswith("+08:00")
    assert body["pickup"]["redeemed_at"] is None


def test_lookup_of_a_loser_shows_the_rolled_over_registration(drawn, client_api):
    loser_n, loser = next((n, r) for n, r in zip((1, 2, 3), drawn.registrations, strict=True)
                          if r.pk != drawn.winner.pk)

    body = client_api.post(URL, {"number": loser.number, "id_number": make_id_number(seq=loser_n)}).json()

    assert body["status"] == "lost"
    assert body["pickup"] is None
    assert body["rolled_over_to"]["draw_date"] > body["draw_date"]


def test_lookup_with_another_persons_id_number_is_registration_not_found(xiamen, client_api):
    reg = registration_create(campaign=xiamen.campaign, request=registration_request(1))

    response = client_api.post(URL, {"number": reg.number, "id_number": make_id_number(seq=2)})

    assert_errors(response, 404, "registration_not_found")


def test_lookup_of_an_unknown_number_is_registration_not_found(xiamen, client_api):
    registration_create(campaign=xiamen.campaign, request=registration_request(1))

    response = client_api.post(URL, {"number": "ABCDEFGHJK", "id_number": make_id_number(seq=1)})

    assert_errors(response, 404, "registration_not_found")


def test_lookup_by_id_number_alone_is_refused(xiamen, client_api):
    registration_create(campaign=xiamen.campaign, request=registration_request(1))

    response = client_api.post(URL, {"id_number": make_id_number(seq=1)})

    assert_errors(response, 400, "missing", field="number")


def test_lookup_by_get_with_query_parameters_is_not_allowed(xiamen, client_api):
    response = client_api.get(f"{URL}?number=ABCDEFGHJK&id_number={make_id_number(seq=1)}")

    assert response.status_code == 405


def test_lookup_with_an_unknown_field_is_unexpected_field(xiamen, client_api):
    response = client_api.post(URL, {"number": "ABCDEFGHJK", "id_number": make_id_number(seq=1), "phone": "1"})

    assert_errors(response, 400, "unexpected_field", field="phone")


def test_guessing_id_numbers_is_throttled(xiamen, client_api):
    # given 30 wrong guesses within a minute
    for seq in range(30):
        assert client_api.post(URL, {"number": "ABCDEFGHJK", "id_number": make_id_number(seq=seq)}).status_code == 404

    # when
    response = client_api.post(URL, {"number": "ABCDEFGHJK", "id_number": make_id_number(seq=31)})

    # then
    assert_errors(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
