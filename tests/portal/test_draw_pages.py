"""The public draw pages: list, detail, raw bundle files, the zip and inclusion proofs."""

from __future__ import annotations

import json

import pytest

from allot import lottery
from allot.draws.models import Draw, DrawFile
from allot.draws.services import draw_commit, draw_run_now
from allot.registrations.models import Registration
from allot.registrations.services import registration_create
from tests.conftest import registration_request

CONTENT_TYPES = {
    "manifest.json": "application/json; charset=utf-8",
    "entries.jsonl": "application/x-ndjson; charset=utf-8",
    "reveal.json": "application/json; charset=utf-8",
    "results.csv": "text/csv; charset=utf-8",
}


@pytest.fixture
def published(stocked, django_capture_on_commit_callbacks) -> Draw:
    for n in (1, 2, 3):
        registration_create(campaign=stocked.campaign, request=registration_request(n))
    with django_capture_on_commit_callbacks(execute=True):
        draw = draw_run_now(campaign=stocked.campaign)
    draw.refresh_from_db()
    return draw


@pytest.fixture
def committed(stocked) -> Draw:
    registration_create(campaign=stocked.campaign, request=registration_request(1))
    return draw_commit(round_=stocked.round)


def test_draw_list_shows_the_published_draw_and_its_verification(published, zh_client):
    html = zh_client.get("/draws/").content.decode()

    assert published.draw_id in html
    assert published.merkle_root in html
    assert "厦门市口罩预约" in html
    assert "已核验" in html and "SYNTHETIC" in html


def test_draw_list_in_english(published, en_client):
    html = en_client.get("/draws/").content.decode()

    assert "Every draw is published here" in html


def test_draw_page_explains_how_to_verify_and_links_every_file(published, zh_client):
    response = zh_client.get(f"/draws/{published.draw_id}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f"python3 verify.py {published.draw_id}.zip" in html
    assert "allot-verify" in html
    for name in CONTENT_TYPES:
        assert f"/draws/{published.draw_id}/{name}" in html
    assert f"/draws/{published.draw_id}.zip" in html


def test_draw_page_in_english(published, en_client):
    html = en_client.get(f"/draws/{published.draw_id}/").content.decode()

    assert "How anyone can check this draw" in html


def test_unknown_draw_is_404(xiamen, zh_client):
    assert zh_client.get("/draws/nope-20200101/").status_code == 404
    assert zh_client.get("/draws/nope-20200101.zip").status_code == 404
    assert zh_client.get("/draws/nope-20200101/manifest.json").status_code == 404


@pytest.mark.parametrize("name", list(CONTENT_TYPES))
def test_each_bundle_file_is_served_byte_for_byte_inline(published, zh_client, name):
    response = zh_client.get(f"/draws/{published.draw_id}/{name}")

    assert response.status_code == 200
    assert response.content == bytes(DrawFile.objects.get(draw=published, name=name).content)
    assert response["Content-Type"] == CONTENT_TYPES[name]
    assert response["Content-Disposition"].startswith("inline")


def test_zip_bundle_verifies_with_the_standalone_verifier(published, zh_client, tmp_path):
    response = zh_client.get(f"/draws/{published.draw_id}.zip")
    path = tmp_path / f"{published.draw_id}.zip"
    path.write_bytes(response.content)

    result = lottery.verify_bundle(path)

    assert response["Content-Type"] == "application/zip"
    assert result.summary().startswith("OK ")
    assert published.merkle_root in result.summary()


def test_zip_bundle_is_the_same_bytes_every_time(published, zh_client):
    first = zh_client.get(f"/draws/{published.draw_id}.zip").content

    assert zh_client.get(f"/draws/{published.draw_id}.zip").content == first


def test_inclusion_proof_checks_against_the_committed_root(published, zh_client, tmp_path):
    reg = Registration.objects.filter(round=published.round).exclude(channel="rollover").first()

    response = zh_client.get(f"/draws/{published.draw_id}/proof/{reg.entry_id}.json")

    proof = json.loads(response.content)
    assert response.status_code == 200
    lottery.check_inclusion_proof(proof, merkle_root_hex=published.merkle_root, tree_size=published.entries,
                                  draw_id=published.draw_id)
    bundle = tmp_path / "b.zip"
    bundle.write_bytes(zh_client.get(f"/draws/{published.draw_id}.zip").content)
    assert reg.entry_id in lottery.verify_bundle(bundle, entry=reg.entry_id, proof=proof).summary()


def test_inclusion_proof_of_an_unknown_entry_is_404(published, zh_client):
    assert zh_client.get(f"/draws/{published.draw_id}/proof/{'0' * 32}.json").status_code == 404


def test_committed_draw_publishes_its_commitment_but_no_zip_yet(committed, zh_client):
    base = f"/draws/{committed.draw_id}"

    assert zh_client.get(f"{base}/manifest.json").status_code == 200
    assert zh_client.get(f"{base}/entries.jsonl").status_code == 200
    assert zh_client.get(f"{base}/reveal.json").status_code == 404
    assert zh_client.get(f"{base}.zip").status_code == 404
    html = zh_client.get(f"{base}/").content.decode()
    assert "这就是承诺" in html


def test_committed_draw_already_gives_inclusion_proofs(committed, zh_client):
    reg = Registration.objects.get(round=committed.round)

    response = zh_client.get(f"/draws/{committed.draw_id}/proof/{reg.entry_id}.json")

    lottery.check_inclusion_proof(json.loads(response.content), merkle_root_hex=committed.merkle_root,
                                  tree_size=committed.entries, draw_id=committed.draw_id)


def test_a_published_draw_page_shows_its_fairness_report(db, xiamen, django_capture_on_commit_callbacks, client):
    from allot.campaigns.selectors import draw_date_for
    from allot.campaigns.services import round_get_or_create, supply_set
    from allot.draws.services import draw_run_now
    from allot.registrations.services import registration_create
    from tests.conftest import registration_request

    c = xiamen.campaign
    supply_set(round_=round_get_or_create(campaign=c, draw_date=draw_date_for(c)), outlet=xiamen.outlets[0], packs=2)
    for i in range(1, 6):
        registration_create(campaign=c, request=registration_request(i))
    with django_capture_on_commit_callbacks(execute=True):
        draw = draw_run_now(campaign=c)
    html = client.get(f"/draws/{draw.draw_id}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Was it fair?" in html and "2 of 5 entries won." in html and "XM-SM-001" in html


def test_digits_entered_without_a_notary_are_marked_so_in_chinese_brackets(published, zh_client):
    Draw.objects.filter(pk=published.pk).update(notary_source="local-fallback")

    html = zh_client.get(f"/draws/{published.draw_id}/").content.decode()

    assert "（本地替代值，非公证员录入）" in html
    assert "(本地替代值" not in html
