"""The OpenAPI document and the docs page."""

from __future__ import annotations

import pytest

from tests.api.conftest import BASE

PATHS = {
    "/campaigns": {"get"},
    "/campaigns/{slug}": {"get"},
    "/campaigns/{slug}/districts": {"get"},
    "/campaigns/{slug}/districts/{code}/outlets": {"get"},
    "/campaigns/{slug}/registrations": {"post"},
    "/campaigns/{slug}/status/code": {"post"},
    "/campaigns/{slug}/status/verify": {"post"},
    "/campaigns/{slug}/status/withdraw": {"post"},
    "/registrations/challenge": {"get"},
    "/auth/token": {"post"},
    "/pickup/redeem": {"post"},
    "/draws": {"get"},
    "/draws/{draw_id}": {"get"},
    "/draws/{draw_id}/files/{name}": {"get"},
    # first come (allot/api/v1/claims.py, couriers.py)
    "/campaigns/{slug}/claims": {"post"},
    "/campaigns/{slug}/address/guess": {"post"},
    "/campaigns/{slug}/claims/remaining": {"get"},
    "/claims/lookup": {"post"},
    "/claims/lookup/verify": {"post"},
    "/courier/parcels/status": {"post"},
    "/courier/parcels/{number}/status": {"post"},
    "/courier/manifest": {"get"},
}


@pytest.fixture
def openapi(db, client_api):
    response = client_api.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_openapi_document_lists_every_operation(openapi):
    assert openapi["info"] == {"title": "allot API", "version": "1", "description": openapi["info"]["description"]}
    assert {p: set(ops) for p, ops in openapi["paths"].items()} == {BASE + p: ops for p, ops in PATHS.items()}


def test_every_error_status_is_documented_with_the_error_schema(openapi):
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorsOut"}, (method, path, status)


def test_every_success_response_has_a_schema(openapi):
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            ok = [r for s, r in op["responses"].items() if s.startswith("2")]
            assert ok and all(r.get("content") for r in ok), (method, path)


def test_operations_that_can_fail_document_their_errors(openapi):
    documented = {(p.removeprefix(BASE), m): set(op["responses"]) for p, ops in openapi["paths"].items()
                  for m, op in ops.items()}
    assert documented[("/campaigns/{slug}/registrations", "post")] == {"202", "400", "404", "409", "429", "503"}
    assert documented[("/pickup/redeem", "post")] == {"200", "400", "401", "403", "404", "409"}
    assert documented[("/campaigns/{slug}/status/code", "post")] == {"202", "400", "404", "429", "503"}
    assert documented[("/auth/token", "post")] == {"200", "400", "401", "429"}
    assert documented[("/campaigns/{slug}/claims", "post")] == {"201", "400", "403", "404", "409", "429", "503"}
    assert documented[("/claims/lookup", "post")] == {"202", "400", "404", "429", "503"}
    assert documented[("/claims/lookup/verify", "post")] == {"200", "400", "404", "429", "503"}


def test_input_schemas_reject_unknown_fields(openapi):
    schemas = openapi["components"]["schemas"]
    for name in ("RegistrationIn", "CodeIn", "VerifyIn", "AccessIn", "TokenIn", "RedeemIn", "ClaimIn", "ClaimCodeIn",
                 "AddressGuessIn", "ClaimVerifyIn"):
        assert schemas[name]["additionalProperties"] is False, name


def test_redeem_declares_bearer_auth(openapi):
    op = openapi["paths"][BASE + "/pickup/redeem"]["post"]
    assert op["security"]
    scheme = next(iter(op["security"][0]))
    assert openapi["components"]["securitySchemes"][scheme]["scheme"] == "bearer"


def test_docs_page_is_html(db, client_api):
    response = client_api.get("/docs")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"openapi.json" in response.content
