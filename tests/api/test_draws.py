"""GET /draws, /draws/{draw_id} and the raw bundle files."""

from __future__ import annotations

import datetime as dt
import hashlib

from allot.campaigns.services import round_get_or_create
from allot.draws.models import DrawFile
from allot.draws.services import draw_commit
from tests.api.conftest import assert_errors


def _committed_next_round(drawn):
    """Commit (but do not run) the round after the drawn one: the losers rolled over into it."""
    next_round = round_get_or_create(campaign=drawn.campaign,
                                     draw_date=drawn.draw.round.draw_date + dt.timedelta(days=1))
    return draw_commit(round_=next_round)


def test_draw_list_shows_published_and_committed_draws_newest_first(drawn, client_api):
    # given a published draw and the committed one of the next day
    committed = _committed_next_round(drawn)

    # when
    response = client_api.get("/draws")

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest, published = body["items"]
    assert (newest["draw_id"], newest["state"], newest["winners"]) == (committed.draw_id, "committed", None)
    assert newest["entries"] == 2
    assert [f["name"] for f in newest["files"]] == ["manifest.json", "entries.jsonl"]
    assert published["draw_id"] == drawn.draw.draw_id
    assert (published["state"], published["winners"], published["entries"]) == ("published", 1, 3)
    assert published["verified"] is True
    assert "SYNTHETIC" in published["verify_summary"]
    assert published["beacon"]["kind"] == "synthetic"
    assert published["bundle_url"] == f"/draws/{drawn.draw.draw_id}.zip"
    assert [f["name"] for f in published["files"]] == ["manifest.json", "entries.jsonl", "reveal.json",
                                                       "results.csv"]


def test_draw_list_can_be_paged_and_filtered_by_campaign(drawn, client_api):
    _committed_next_round(drawn)

    page = client_api.get("/draws?campaign=xiamen-masks&limit=1&offset=1").json()
    other = client_api.get("/draws?campaign=elsewhere").json()

    assert (page["count"], [d["draw_id"] for d in page["items"]]) == (2, [drawn.draw.draw_id])
    assert other == {"count": 0, "items": []}


def test_draw_list_with_a_limit_out_of_range_is_invalid(db, client_api):
    assert_errors(client_api.get("/draws?limit=0"), 400, "invalid", field="limit")


def test_draw_detail_matches_the_stored_draw(drawn, client_api):
    response = client_api.get(f"/draws/{drawn.draw.draw_id}")

    assert response.status_code == 200
    body = response.json()
    assert (body["merkle_root"], body["manifest_hash"]) == (drawn.draw.merkle_root, drawn.draw.manifest_hash)
    assert body["draw_date"] == drawn.draw.round.draw_date.isoformat()


def test_draw_detail_of_an_unknown_draw_is_draw_not_found(db, client_api):
    assert_errors(client_api.get("/draws/xiamen-masks-19990101"), 404, "draw_not_found", field="draw_id")


def test_every_listed_file_is_served_byte_for_byte_with_its_content_type(drawn, client_api):
    listed = client_api.get(f"/draws/{drawn.draw.draw_id}").json()["files"]
    expected = {"manifest.json": "application/json; charset=utf-8",
                "entries.jsonl": "application/x-ndjson; charset=utf-8",
                "reveal.json": "application/json; charset=utf-8", "results.csv": "text/csv; charset=utf-8"}

    for f in listed:
        response = client_api.client.get(f["url"])
        stored = bytes(DrawFile.objects.get(draw=drawn.draw, name=f["name"]).content)
        assert response.status_code == 200
        assert response["Content-Type"] == expected[f["name"]] == f["content_type"]
        assert response.content == stored
        assert hashlib.sha256(response.content).hexdigest() == f["sha256"]


def test_file_with_an_unknown_name_is_file_not_found(drawn, client_api):
    assert_errors(client_api.get(f"/draws/{drawn.draw.draw_id}/files/secrets.txt"), 404, "file_not_found",
                  field="name")


def test_reveal_of_a_draw_that_is_only_committed_is_file_not_found(drawn, client_api):
    committed = _committed_next_round(drawn)
    assert_errors(client_api.get(f"/draws/{committed.draw_id}/files/reveal.json"), 404, "file_not_found")


def test_file_of_an_unknown_draw_is_draw_not_found(db, client_api):
    assert_errors(client_api.get("/draws/nope/files/manifest.json"), 404, "draw_not_found")


def test_draw_list_query_count_does_not_grow_with_draws(drawn, client_api, django_assert_max_num_queries):
    _committed_next_round(drawn)

    with django_assert_max_num_queries(4):
        assert len(client_api.get("/draws").json()["items"]) == 2
