"""Helpers for the /api/v1 tests: a JSON client, request bodies, staff tokens and a drawn round."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from allot.api.v1 import api
from tests.abuse.proof import solved
from tests.conftest import make_id_number, make_phone

BASE = "/api/v1"
SLUG = "xiamen-masks"
CLERK_PASSWORD = "clerk-pass-123"  # what tests/conftest.py's clerk_factory sets


@pytest.fixture(autouse=True)
def _empty_cache():
    """Idempotency keys and throttle counters live in the cache: every test starts without them."""
    cache.clear()
    yield
    cache.clear()


class ApiClient:
    def __init__(self) -> None:
        self.client = Client()

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(BASE + path, headers=headers)

    def post(self, path: str, body: Any, **headers: str) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(BASE + path, data=data, content_type="application/json", headers=headers)


@pytest.fixture
def client_api() -> ApiClient:
    return ApiClient()


def registration_body(n: int = 1, **over: Any) -> dict[str, Any]:
    """A valid registration body with a freshly solved proof of work."""
    body: dict[str, Any] = {"name": "张三", "id_number": make_id_number(seq=n), "phone": make_phone(n),
                            "district": "350203", "outlet": "XM-SM-001", "accept_any": False, "consent_id": True,
                            "altcha": solved("register")}
    body.update(over)
    return body


def _schema(name: str) -> dict[str, Any]:
    return api.get_openapi_schema()["components"]["schemas"][name]


def assert_errors(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The response is an error with the documented shape, the status and (one of its errors) the code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    errors_schema, item_schema = _schema("ErrorsOut"), _schema("FieldErrorOut")
    assert set(body) == set(errors_schema["properties"]) == set(errors_schema["required"])
    assert body["errors"], body
    for item in body["errors"]:
        assert set(item) == set(item_schema["properties"]) == set(item_schema["required"])
        assert all(isinstance(v, str) for v in item.values())
        assert item["message"]
    matching = [e for e in body["errors"] if e["code"] == code]
    assert matching, body
    if field is not None:
        assert any(e["field"] == field for e in matching), body
    return body


@pytest.fixture
def token_for(client_api):
    def issue(username: str) -> str:
        response = client_api.post("/auth/token", {"username": username, "password": CLERK_PASSWORD})
        assert response.status_code == 200, response.content
        return response.json()["token"]

    return issue


@pytest.fixture
def drawn(xiamen, django_capture_on_commit_callbacks):
    """Three residents registered at XM-SM-001 with one pack of supply, drawn now: one winner."""
    from allot.campaigns.selectors import draw_date_for
    from allot.campaigns.services import round_get_or_create, supply_set
    from allot.draws.services import draw_run_now
    from allot.registrations.models import Registration
    from allot.registrations.services import registration_create
    from tests.conftest import registration_request

    c = xiamen.campaign
    supply_set(round_=round_get_or_create(campaign=c, draw_date=draw_date_for(c)), outlet=xiamen.outlets[0],
               packs=1)
    regs = [registration_create(campaign=c, request=registration_request(n)) for n in (1, 2, 3)]
    with django_capture_on_commit_callbacks(execute=True):
        draw = draw_run_now(campaign=c)
    winner = Registration.objects.select_related("pickup").get(pk__in=[r.pk for r in regs], status="won")
    xiamen.draw, xiamen.winner, xiamen.registrations = draw, winner, regs
    xiamen.winner_n = next(n for n, r in zip((1, 2, 3), regs, strict=True) if r.pk == winner.pk)
    return xiamen
