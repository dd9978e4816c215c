"""No API response carries an unmasked ID number or phone number."""

from __future__ import annotations

from tests.api.conftest import SLUG, registration_body
from tests.conftest import make_id_number, make_phone


def _secrets(n: int) -> list[str]:
    phone = make_phone(n)
    return [make_id_number(seq=n), phone, phone.removeprefix("+86")]


def test_no_response_contains_an_unmasked_id_or_phone_number(xiamen, clerk_factory, token_for, client_api,
                                                            django_capture_on_commit_callbacks):
    from allot.campaigns.selectors import draw_date_for
    from allot.campaigns.services import round_get_or_create, supply_set
    from allot.draws.services import draw_run_now
    from allot.registrations.models import Registration

    c = xiamen.campaign
    supply_set(round_=round_get_or_create(campaign=c, draw_date=draw_date_for(c)), outlet=xiamen.outlets[0],
               packs=1)
    clerk_factory(xiamen.outlets[0])
    responses = []
    url = f"/campaigns/{SLUG}/registrations"
    # registrations, a replay, and the errors a resident can run into
    for n in (1, 2):
        responses.append(client_api.post(url, registration_body(n), **{"Idempotency-Key": f"k{n}"}))
    responses.append(client_api.post(url, registration_body(1), **{"Idempotency-Key": "k1"}))
    responses.append(client_api.post(url, registration_body(2, outlet="XM-SM-002"), **{"Idempotency-Key": "k1"}))
    responses.append(client_api.post(url, registration_body(1)))
    responses.append(client_api.post(url, registration_body(3, phone="0592 2345678")))
    responses.append(client_api.post(url, registration_body(3, name="张3")))
    from tests.abuse.proof import last_code, solved

    def lookup(n: int):
        sent = client_api.post(f"/campaigns/{SLUG}/status/code",
                               {"id_number": make_id_number(seq=n), "altcha": solved("status_code")})
        return [sent, client_api.post(f"/campaigns/{SLUG}/status/verify",
                                      {"token": sent.json()["token"], "code": last_code(make_phone(n))})]

    responses += lookup(1) + lookup(2)
    responses.append(client_api.post(f"/campaigns/{SLUG}/status/code",
                                     {"id_number": make_id_number(seq=3), "altcha": solved("status_code")}))
    # the draw, the winner's status, the redemption and every public draw file
    with django_capture_on_commit_callbacks(execute=True):
        draw = draw_run_now(campaign=c)
    winner = Registration.objects.get(round=draw.round, status="won")
    n = 1 if winner.person.id_masked.endswith(make_id_number(seq=1)[-4:]) else 2
    responses += lookup(n)
    responses.append(client_api.post("/pickup/redeem", {"code": winner.pickup.code},
                                     Authorization=f"Bearer {token_for('clerk')}"))
    responses.append(client_api.get("/draws"))
    for f in responses[-1].json()["items"][0]["files"]:
        responses.append(client_api.client.get(f["url"]))
    responses += [client_api.get("/campaigns"), client_api.get(f"/campaigns/{SLUG}")]

    assert all(r.status_code < 500 for r in responses)
    assert sum(r.status_code in (200, 202) for r in responses) >= 12
    bodies = [r.content.decode() for r in responses]
    for secret in _secrets(1) + _secrets(2) + _secrets(3):
        assert not [b for b in bodies if secret in b], secret
