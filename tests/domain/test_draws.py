"""The draw state machine: commit, randomness inputs, execute; idempotent and resumable."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from allot import lottery
from allot.campaigns.models import Campaign, Round
from allot.campaigns.selectors import draw_date_for, draw_moment
from allot.campaigns.services import round_get_or_create, supply_set
from allot.core.errors import Conflict, DomainError
from allot.draws import services as draw_services
from allot.draws.models import Draw, DrawFile
from allot.draws.services import (
    draw_advance,
    draw_beacon_submit,
    draw_commit,
    draw_execute,
    draw_notary_digits_submit,
    draw_run_now,
)
from allot.pickup.models import PickupCode
from allot.registrations.models import Registration
from allot.registrations.services import registration_create
from tests.conftest import registration_request


@pytest.fixture
def round_with_entries(xiamen):
    c = xiamen.campaign
    c.beacon_kind = Campaign.Beacon.DRAND
    c.min_gap_seconds = 60
    c.save()
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=3)
    supply_set(round_=round_, outlet=xiamen.outlets[1], packs=1)
    for i in range(1, 9):
        registration_create(campaign=c, request=registration_request(i))
    registration_create(campaign=c, request=registration_request(20, outlet="XM-SM-002", accept_any=True))
    return round_


def _manifest(d: Draw) -> dict:
    return json.loads(bytes(DrawFile.objects.get(draw=d, name="manifest.json").content))


def test_commit_freezes_the_round_and_publishes_manifest_and_entries(round_with_entries):
    now = timezone.now().replace(microsecond=0)
    d = draw_commit(round_=round_with_entries, now=now)
    round_with_entries.refresh_from_db()
    assert round_with_entries.state == Round.State.FROZEN
    m = _manifest(d)
    assert m["entries"] == 9 and m["quotas"]["XM-SM-001"] == 3 and m["quotas"]["XM-SM-002"] == 1
    assert m["beacon"]["kind"] == "drand" and m["beacon"]["round"] == d.beacon_round
    assert d.beacon_time >= now + dt.timedelta(seconds=60)
    assert set(DrawFile.objects.filter(draw=d).values_list("name", flat=True)) == {"manifest.json", "entries.jsonl"}


def test_commit_twice_returns_the_same_draw(round_with_entries):
    a = draw_commit(round_=round_with_entries)
    b = draw_commit(round_=round_with_entries)
    assert a.pk == b.pk and a.merkle_root == b.merkle_root


def test_registration_after_freeze_goes_to_the_next_round(round_with_entries, xiamen):
    moment = draw_moment(round_with_entries)
    draw_commit(round_=round_with_entries, now=moment)
    reg = registration_create(campaign=xiamen.campaign, request=registration_request(30),
                              now=moment - dt.timedelta(seconds=1))
    assert reg.round.draw_date == round_with_entries.draw_date + dt.timedelta(days=1)


def test_accept_any_entry_lists_other_outlets_nearest_first(round_with_entries):
    d = draw_commit(round_=round_with_entries)
    lines = [json.loads(x) for x in bytes(DrawFile.objects.get(draw=d, name="entries.jsonl").content).splitlines()]
    prefs = [e["prefs"] for e in lines if len(e["prefs"]) > 1]
    assert prefs == [["XM-SM-002", "XM-SM-001"]]


def test_notary_digits_rules(round_with_entries):
    d = draw_commit(round_=round_with_entries)
    with pytest.raises(DomainError) as exc:
        draw_notary_digits_submit(draw=d, digits="12345", actor=None)
    assert exc.value.code == "notary_digits_invalid"
    with pytest.raises(Conflict) as late:
        draw_notary_digits_submit(draw=d, digits="123456", actor=None, now=d.beacon_time)
    assert late.value.code == "notary_digits_late"
    d = draw_notary_digits_submit(draw=d, digits="1234 56", actor=None)
    assert d.notary_digits == "123456"
    with pytest.raises(Conflict):
        draw_notary_digits_submit(draw=d, digits="654321", actor=None)


def test_beacon_rules(round_with_entries):
    d = draw_commit(round_=round_with_entries)
    sig = "ab" * 48
    with pytest.raises(DomainError) as wrong:
        draw_beacon_submit(draw=d, round_no=d.beacon_round + 1, signature_hex=sig, actor=None, now=d.beacon_time)
    assert wrong.value.code == "beacon_wrong_round"
    with pytest.raises(Conflict) as early:
        draw_beacon_submit(draw=d, round_no=d.beacon_round, signature_hex=sig, actor=None,
                           now=d.beacon_time - dt.timedelta(seconds=1))
    assert early.value.code == "beacon_not_yet"
    with pytest.raises(DomainError) as mismatch:
        draw_beacon_submit(draw=d, round_no=d.beacon_round, signature_hex=sig, actor=None, now=d.beacon_time,
                           randomness_hex="00" * 32)
    assert mismatch.value.code == "beacon_randomness_mismatch"


def _ready(round_) -> Draw:
    d = draw_commit(round_=round_)
    d = draw_notary_digits_submit(draw=d, digits="40291733", actor=None)
    return draw_beacon_submit(draw=d, round_no=d.beacon_round, signature_hex="5a" * 48, actor=None,
                              now=d.beacon_time)


def test_execute_matches_an_independent_recomputation(round_with_entries, django_capture_on_commit_callbacks):
    d = _ready(round_with_entries)
    with django_capture_on_commit_callbacks(execute=True):
        d = draw_execute(draw=d)
    assert d.state == Draw.State.PUBLISHED and d.winners == 4
    c = lottery.load_commitment(manifest_json=bytes(DrawFile.objects.get(draw=d, name="manifest.json").content),
                                entries_jsonl=bytes(DrawFile.objects.get(draw=d, name="entries.jsonl").content))
    expected = lottery.draw(commitment=c, randomness_round=d.beacon_round, signature=bytes.fromhex("5a" * 48),
                            notary_digits="40291733")
    assert bytes(DrawFile.objects.get(draw=d, name="results.csv").content) == expected.results_csv
    winners = dict(Registration.objects.filter(round=round_with_entries, status="won")
                   .values_list("entry_id", "allocated_outlet__code"))
    assert winners == expected.winners()
    assert PickupCode.objects.count() == 4
    d.refresh_from_db()
    assert d.verified_at is not None, d.verify_summary


def test_execute_twice_does_nothing_the_second_time(round_with_entries):
    d = draw_execute(draw=_ready(round_with_entries))
    codes = set(PickupCode.objects.values_list("code", flat=True))
    again = draw_execute(draw=d)
    assert again.published_at == d.published_at
    assert set(PickupCode.objects.values_list("code", flat=True)) == codes
    assert Registration.objects.filter(channel="rollover").count() == 5


def test_a_crash_mid_draw_leaves_nothing_and_a_rerun_gives_the_same_result(round_with_entries, monkeypatch):
    d = _ready(round_with_entries)

    def crash(round_):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(draw_services, "_roll_over", crash)
    with pytest.raises(RuntimeError):
        draw_execute(draw=d)
    d.refresh_from_db()
    assert d.state == Draw.State.COMMITTED
    assert not Registration.objects.filter(status="won").exists() and not PickupCode.objects.exists()
    assert not DrawFile.objects.filter(draw=d, name="results.csv").exists()
    monkeypatch.undo()
    d = draw_execute(draw=d)
    c = lottery.load_commitment(manifest_json=bytes(DrawFile.objects.get(draw=d, name="manifest.json").content),
                                entries_jsonl=bytes(DrawFile.objects.get(draw=d, name="entries.jsonl").content))
    expected = lottery.draw(commitment=c, randomness_round=d.beacon_round, signature=bytes.fromhex("5a" * 48),
                            notary_digits="40291733")
    assert bytes(DrawFile.objects.get(draw=d, name="results.csv").content) == expected.results_csv


def test_scheduler_commits_at_draw_time_and_waits_for_the_notary_and_beacon(round_with_entries):
    moment = draw_moment(round_with_entries)
    assert draw_advance(round_=round_with_entries, now=moment - dt.timedelta(seconds=1)) is None
    d = draw_advance(round_=round_with_entries, now=moment)
    assert d is not None and d.state == Draw.State.COMMITTED
    round_with_entries.refresh_from_db()
    again = draw_advance(round_=round_with_entries, now=moment + dt.timedelta(minutes=5))
    assert again.pk == d.pk and again.state == Draw.State.COMMITTED  # no digits, no beacon: it waits
    draw_notary_digits_submit(draw=d, digits="123456", actor=None, now=moment)
    draw_beacon_submit(draw=d, round_no=d.beacon_round, signature_hex="11" * 48, actor=None, now=d.beacon_time)
    done = draw_advance(round_=round_with_entries, now=d.beacon_time)
    assert done.state == Draw.State.PUBLISHED


def test_synthetic_campaign_draws_by_itself(xiamen):
    c = xiamen.campaign
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=1)
    registration_create(campaign=c, request=registration_request(1))
    d = draw_advance(round_=round_, now=draw_moment(round_) + dt.timedelta(seconds=10))
    assert d.state == Draw.State.COMMITTED  # the (synthetic) beacon round is still in the future
    round_.refresh_from_db()
    d = draw_advance(round_=round_, now=d.beacon_time)
    assert d.state == Draw.State.PUBLISHED and d.notary_source == draw_services.LOCAL_FALLBACK


def test_draw_now_is_refused_for_a_public_beacon_campaign(round_with_entries, xiamen):
    with pytest.raises(Conflict) as exc:
        draw_run_now(campaign=xiamen.campaign)
    assert exc.value.code == "draw_now_forbidden"


def test_losers_roll_over_with_more_weight_and_winners_sit_out_the_cooldown(xiamen):
    c = xiamen.campaign
    c.weight_rule, c.weight_cap, c.cooldown_days = Campaign.WeightRule.LOSSES, 3, 7
    c.save()
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=1)
    seq_of = {registration_create(campaign=c, request=registration_request(i)).person_id: i for i in (1, 2)}
    draw_run_now(campaign=c)
    loser = Registration.objects.get(round=round_, status="lost")
    winner = Registration.objects.get(round=round_, status="won")
    rolled = loser.rolled_to
    assert rolled.weight == 2 and rolled.losses_before == 1 and rolled.round.draw_date > round_.draw_date
    # the winner tries again for the next round: refused during the cooldown
    with pytest.raises(Conflict) as exc:
        registration_create(campaign=c, request=registration_request(seq_of[winner.person_id]),
                            now=timezone.now())
    assert exc.value.code == "in_cooldown"


def test_apportion_by_demand_splits_the_total_by_first_choices(xiamen):
    c = xiamen.campaign
    c.apportion_by_demand = True
    c.save()
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    round_.total_packs = 4
    round_.save()
    for i in range(1, 7):
        registration_create(campaign=c, request=registration_request(i, outlet="XM-SM-001"))
    for i in range(7, 9):
        registration_create(campaign=c, request=registration_request(i, outlet="XM-SM-002"))
    d = draw_commit(round_=round_)
    assert _manifest(d)["quotas"] == {"XM-SM-001": 3, "XM-SM-002": 1}
    from allot.campaigns.models import Supply

    assert dict(Supply.objects.filter(round=round_).values_list("outlet__code", "packs")) == {
        "XM-SM-001": 3, "XM-SM-002": 1}


def test_fairness_report_of_a_published_draw(round_with_entries):
    from allot.draws.selectors import draw_fairness

    d = draw_execute(draw=_ready(round_with_entries))
    report = draw_fairness(draw=d)
    assert report.entrants == 9 and report.winners == 4
    assert {r.label for r in report.by_outlet} == {"XM-SM-001", "XM-SM-002"}
    assert sum(b.entrants for b in report.buckets) == 9


def test_a_rolled_over_entry_keeps_its_health_declaration_and_consent(xiamen):
    from allot.registrations.services import HealthAnswers

    c = xiamen.campaign
    c.ask_health = True
    c.save()
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=1)
    health = HealthAnswers(returned=False, symptoms=False)
    for i in (1, 2):
        registration_create(campaign=c, request=registration_request(i, consent_health=True, health=health))
    draw_run_now(campaign=c)
    loser = Registration.objects.get(round=round_, status="lost")
    rolled = loser.rolled_to
    assert rolled.health_sealed == loser.health_sealed != ""
    assert rolled.consent_health_at == loser.consent_health_at is not None
