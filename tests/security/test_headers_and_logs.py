"""Security headers on pages with personal data, and the masking filter on log lines."""

from __future__ import annotations

import io
import logging

import pytest

from allot.core.logging import PersonalDataFilter, mask_text
from tests.conftest import make_id_number


@pytest.mark.parametrize("path", ["/c/xiamen-masks/register/?district=350203", "/c/xiamen-masks/status/",
                                  "/staff/login/"])
def test_pages_with_personal_data_are_not_stored_by_any_cache(client, xiamen, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


def test_the_api_is_not_cached_but_published_bundle_files_may_be(client, xiamen):
    assert client.get("/api/v1/campaigns").headers["Cache-Control"] == "no-store"


def test_mask_text_masks_id_numbers_and_phones_in_any_spelling():
    id18 = make_id_number(seq=7)
    text = f"lookup {id18} from +8613912345678, 139 1234 5678, 13912345678 and 0086-13912345678; old 350203900101123"
    masked = mask_text(text)
    assert id18 not in masked and "12345678" not in masked and "900101" not in masked
    assert f"{id18[:6]}********{id18[-4:]}" in masked and "139****5678" in masked


def test_mask_text_leaves_other_numbers_alone():
    text = "draw xiamen-masks-20260201 round 4521337 entries 1200 sha 9f86d081884c7d659a2feaa0c55ad015"
    assert mask_text(text) == text


def test_the_configured_log_handler_masks_messages_arguments_and_tracebacks():
    # given the handler configured in settings.LOGGING, writing into a buffer
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, PersonalDataFilter)
                                                                    for f in h.filters))
    buffer = io.StringIO()
    old = handler.setStream(buffer)  # type: ignore[attr-defined]
    id18 = make_id_number(seq=9)
    try:
        log = logging.getLogger("allot.test")
        log.warning("registration for %s failed", id18)
        try:
            raise ValueError(f"bad phone 13800138000 for {id18}")
        except ValueError:
            log.exception("boom")
    finally:
        handler.setStream(old)  # type: ignore[attr-defined]
    out = buffer.getvalue()
    # then the lines are there, masked
    assert "registration for" in out and "ValueError" in out
    assert id18 not in out and "13800138000" not in out
    assert "138****8000" in out
