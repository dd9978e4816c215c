"""The daily draw as a resumable state machine.

``draw_commit``  freezes the round's entries and publishes manifest.json + entries.jsonl (the commitment);
``draw_notary_digits_submit`` / ``draw_beacon_submit`` record the two sources of randomness;
``draw_execute`` runs allot-draw/v1, records winners, issues pickup codes, rolls losers over and publishes
reveal.json + results.csv — all in one transaction, so a crash leaves either nothing or everything, and a
rerun computes the same result from the same committed files. ``draw_advance`` is what the scheduler calls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import tempfile
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allot import lottery
from allot.campaigns import selectors as campaign_selectors
from allot.campaigns.models import Campaign, Round, Supply
from allot.campaigns.services import round_get_or_create
from allot.core.audit import log_action
from allot.core.codes import random_code
from allot.core.errors import Conflict, DomainError
from allot.core.types import Actor
from allot.draws.models import Draw, DrawFile
from allot.pickup.models import PickupCode
from allot.pickup.services import CODE_LENGTH
from allot.places.models import Outlet
from allot.places.selectors import distance_m
from allot.registrations.models import Registration

logger = logging.getLogger(__name__)

LOCAL_FALLBACK = "local-fallback"


def _weight(campaign: Campaign, losses_before: int) -> int:
    if campaign.weight_rule == Campaign.WeightRule.LOSSES:
        return min(campaign.weight_cap, 1 + losses_before)
    return 1


def _prefs(reg: Registration, outlets_by_district: dict[str, list[Outlet]]) -> tuple[str, ...]:
    """The entry's outlet preferences: the chosen pharmacy first; with 服从分配, every other open pharmacy of
    the district, nearest to the chosen one first (by code when none was chosen)."""
    local = outlets_by_district.get(reg.district_id, [])
    if not reg.accept_any:
        assert reg.outlet is not None
        return (reg.outlet.code,)
    if reg.outlet is None:
        return tuple(o.code for o in sorted(local, key=lambda o: o.code))
    home = reg.outlet
    others = sorted((o for o in local if o.pk != home.pk),
                    key=lambda o: (distance_m(home.latitude, home.longitude, o.latitude, o.longitude), o.code))
    return (home.code, *(o.code for o in others))


def _store(draw: Draw, name: str, content: bytes) -> None:
    DrawFile.objects.update_or_create(draw=draw, name=name,
                                      defaults={"content": content, "sha256": hashlib.sha256(content).hexdigest()})


def _file(draw: Draw, name: str) -> bytes:
    return bytes(DrawFile.objects.get(draw=draw, name=name).content)


def _cooldown_winners(round_: Round) -> set[int]:
    c = round_.campaign
    if not c.cooldown_days:
        return set()
    since = round_.draw_date - dt.timedelta(days=c.cooldown_days)
    return set(Registration.objects.filter(campaign=c, status=Registration.Status.WON,
                                           round__draw_date__gt=since, round__draw_date__lt=round_.draw_date)
               .values_list("person_id", flat=True))


def _beacon(campaign: Campaign) -> lottery.Beacon:
    if campaign.beacon_kind == Campaign.Beacon.SYNTHETIC:
        if not settings.ALLOT_ALLOW_SYNTHETIC_BEACON:
            raise Conflict(_("This deployment does not allow a synthetic beacon; use drand."),
                           code="synthetic_beacon_forbidden")
        return lottery.SYNTHETIC
    return lottery.QUICKNET


def _supply_apportion(*, round_: Round, entries: list[lottery.Entry]) -> dict[str, int]:
    """Split the round's total supply across the outlets in proportion to first choices (largest remainder),
    and record it as the round's supply, so that pharmacies are stocked to match (removes "罩区房")."""
    from allot.lottery.apportion import apportion

    assert round_.total_packs is not None
    demand = Counter(e.prefs[0] for e in entries)
    shares = apportion(total_units=round_.total_packs, demand_by_outlet=dict(demand))
    outlets = {o.code: o for o in Outlet.objects.filter(code__in=shares)}
    Supply.objects.filter(round=round_).exclude(outlet__code__in=shares).update(packs=0)
    for code, packs in sorted(shares.items()):
        Supply.objects.update_or_create(round=round_, outlet=outlets[code], defaults={"packs": packs})
    log_action("allot.supply.apportioned", obj=round_, actor_label="scheduler",
               data={"total_packs": round_.total_packs, "shares": shares})
    return shares


def draw_commit(*, round_: Round, now: dt.datetime | None = None) -> Draw:
    """Freeze the round and publish its commitment. Idempotent: a second call returns the existing draw."""
    now = (now or timezone.now()).replace(microsecond=0)
    with transaction.atomic():
        locked = Round.objects.select_for_update().select_related("campaign").get(pk=round_.pk)
        existing = Draw.objects.filter(round=locked).first()
        if existing is not None:
            return existing
        campaign = locked.campaign
        beacon = _beacon(campaign)
        locked.state = Round.State.FROZEN
        locked.save(update_fields=["state"])
        excluded = _cooldown_winners(locked)
        if excluded:
            Registration.objects.filter(round=locked, status=Registration.Status.REGISTERED,
                                        person_id__in=excluded).update(status=Registration.Status.EXCLUDED)
        regs = list(Registration.objects.filter(round=locked, status=Registration.Status.REGISTERED)
                    .select_related("outlet"))
        outlets_by_district: dict[str, list[Outlet]] = {}
        for o in Outlet.objects.filter(district__in={r.district_id for r in regs}, status=Outlet.Status.OPEN):
            outlets_by_district.setdefault(o.district_id, []).append(o)
        entries = [lottery.Entry(entry_id=r.entry_id, district=r.district_id,
                                 prefs=_prefs(r, outlets_by_district), weight=r.weight) for r in regs]
        quotas = {code: 0 for e in entries for code in e.prefs}
        if campaign.apportion_by_demand and locked.total_packs is not None and entries:
            _supply_apportion(round_=locked, entries=entries)
        quotas.update(dict(Supply.objects.filter(round=locked).values_list("outlet__code", "packs")))
        beacon_round = lottery.round_for(committed_at=now, min_gap_seconds=campaign.min_gap_seconds, beacon=beacon)
        try:
            c = lottery.commit(draw_id=locked.draw_id, campaign=campaign.name, committed_at=now, entries=entries,
                               quotas=quotas, beacon_round=beacon_round, min_gap_seconds=campaign.min_gap_seconds,
                               notary_digits_min=campaign.notary_digits_min, beacon_kind=beacon.kind,
                               chain_hash=beacon.chain_hash, genesis_time=beacon.genesis_time,
                               period=beacon.period)
        except lottery.DrawError as exc:
            raise DomainError(exc.message, code=f"draw_{exc.code}", status=500) from exc
        draw = Draw.objects.create(
            round=locked, draw_id=locked.draw_id, committed_at=now, entries=len(entries),
            merkle_root=c.merkle_root.hex(), manifest_hash=c.manifest_hash.hex(), beacon_kind=beacon.kind,
            beacon_round=beacon_round, beacon_time=c.beacon_time)
        _store(draw, "manifest.json", c.manifest_json)
        _store(draw, "entries.jsonl", c.entries_jsonl)
        log_action("allot.draw.committed", obj=draw, actor_label="scheduler",
                   data={"entries": len(entries), "merkle_root": draw.merkle_root, "beacon_round": beacon_round,
                         "excluded_cooldown": len(excluded)})
    return draw


def draw_notary_digits_submit(*, draw: Draw, digits: str, actor: Actor,
                              source: str = "notary", now: dt.datetime | None = None) -> Draw:
    """Record the digits the notary drew on camera. Only before the committed beacon round exists."""
    now = now or timezone.now()
    digits = "".join((digits or "").split())
    with transaction.atomic():
        d = Draw.objects.select_for_update().select_related("round__campaign").get(pk=draw.pk)
        if d.notary_digits:
            if d.notary_digits == digits:
                return d
            raise Conflict(_("Notary digits were already recorded for this draw."), code="notary_digits_recorded")
        minimum = d.round.campaign.notary_digits_min
        if not (digits.isascii() and digits.isdigit() and len(digits) >= minimum):
            raise DomainError(_("Enter at least %(n)d digits 0–9, as drawn on camera.") % {"n": minimum},
                              code="notary_digits_invalid", field="digits")
        if now >= d.beacon_time:
            raise Conflict(_("Too late: the beacon round has already been produced. Digits must be drawn before "
                             "it exists."), code="notary_digits_late")
        d.notary_digits, d.notary_source, d.notary_entered_at = digits, source, now
        d.notary_id = actor.pk if actor is not None and actor.is_authenticated else None
        d.save(update_fields=["notary_digits", "notary_source", "notary_entered_at", "notary"])
        log_action("allot.draw.notary_digits", obj=d, actor=actor, actor_label=source,
                   data={"digits": digits, "source": source})
    return d


def draw_beacon_submit(*, draw: Draw, round_no: int, signature_hex: str, actor: Actor,
                       randomness_hex: str = "", now: dt.datetime | None = None) -> Draw:
    """Record the beacon round's signature (pasted from any drand relay, or fetched). ``randomness`` must be
    sha256(signature)."""
    now = now or timezone.now()
    try:
        signature = bytes.fromhex(signature_hex.strip())
    except ValueError:
        raise DomainError(_("The signature must be hexadecimal."), code="beacon_signature_invalid",
                          field="signature") from None
    with transaction.atomic():
        d = Draw.objects.select_for_update().get(pk=draw.pk)
        if round_no != d.beacon_round:
            raise DomainError(_("This draw is committed to beacon round %(r)d.") % {"r": d.beacon_round},
                              code="beacon_wrong_round", field="round")
        if now < d.beacon_time:
            raise Conflict(_("Beacon round %(r)d does not exist yet (due %(t)s).") % {
                "r": d.beacon_round, "t": d.beacon_time.isoformat()}, code="beacon_not_yet")
        randomness = hashlib.sha256(signature).hexdigest()
        if randomness_hex and randomness_hex.strip().lower() != randomness:
            raise DomainError(_("Randomness does not match sha256(signature)."), code="beacon_randomness_mismatch",
                              field="randomness")
        if d.beacon_signature:
            if d.beacon_signature == signature.hex():
                return d
            raise Conflict(_("A beacon value is already recorded for this draw."), code="beacon_recorded")
        d.beacon_signature, d.randomness = signature.hex(), randomness
        d.save(update_fields=["beacon_signature", "randomness"])
        log_action("allot.draw.beacon", obj=d, actor=actor, data={"round": round_no, "randomness": randomness})
    return d


def _pickup_window(round_: Round, opens_now_at: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    start, end = campaign_selectors.pickup_window(round_)
    if opens_now_at is not None and opens_now_at < start:
        start = opens_now_at
    return start, end


def draw_execute(*, draw: Draw, open_pickup_at: dt.datetime | None = None,
                 now: dt.datetime | None = None) -> Draw:
    """Run the draw from the committed files. One transaction; rerunning after a crash gives the same result;
    running it after it has completed does nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        d = Draw.objects.select_for_update().select_related("round__campaign").get(pk=draw.pk)
        if d.state == Draw.State.PUBLISHED:
            return d
        if not d.notary_digits or not d.beacon_signature:
            raise Conflict(_("The draw needs the notary digits and the beacon value first."), code="draw_not_ready")
        c = lottery.load_commitment(manifest_json=_file(d, "manifest.json"), entries_jsonl=_file(d, "entries.jsonl"))
        result = lottery.draw(commitment=c, randomness_round=d.beacon_round,
                              signature=bytes.fromhex(d.beacon_signature), notary_digits=d.notary_digits)
        _store(d, "reveal.json", result.reveal_json)
        _store(d, "results.csv", result.results_csv)
        round_ = d.round
        campaign = round_.campaign
        winners = result.winners()
        outlets = {o.code: o for o in Outlet.objects.filter(code__in=set(winners.values()))}
        by_outlet: dict[str, list[str]] = {}
        for entry_id, code in winners.items():
            by_outlet.setdefault(code, []).append(entry_id)
        for code, ids in by_outlet.items():
            Registration.objects.filter(round=round_, entry_id__in=ids).update(
                status=Registration.Status.WON, allocated_outlet=outlets[code])
            Supply.objects.filter(round=round_, outlet=outlets[code]).update(allocated=F("allocated") + len(ids))
        Registration.objects.filter(round=round_, status=Registration.Status.REGISTERED).update(
            status=Registration.Status.LOST)
        valid_from, valid_until = _pickup_window(round_, open_pickup_at)
        won = list(Registration.objects.filter(round=round_, status=Registration.Status.WON)
                   .exclude(pickup__isnull=False).values_list("pk", "allocated_outlet_id"))
        PickupCode.objects.bulk_create(
            [PickupCode(registration_id=pk, outlet_id=outlet_id, code=random_code(CODE_LENGTH),
                        valid_from=valid_from, valid_until=valid_until) for pk, outlet_id in won],
            batch_size=1000)
        rolled = _roll_over(round_) if campaign.rollover_losers else 0
        d.state, d.seed, d.winners = Draw.State.PUBLISHED, result.seed.hex(), len(winners)
        d.leftover, d.published_at = result.leftover, now
        d.save(update_fields=["state", "seed", "winners", "leftover", "published_at"])
        round_.state = Round.State.DRAWN
        round_.save(update_fields=["state"])
        log_action("allot.draw.published", obj=d, actor_label="scheduler",
                   data={"winners": len(winners), "entries": d.entries, "rolled_over": rolled,
                         "leftover": {k: v for k, v in result.leftover.items() if v}})
        transaction.on_commit(lambda: draw_verify(draw=d))
    return d


def _roll_over(round_: Round) -> int:
    """Losers enter the next round automatically, with the weight the campaign's rule gives them."""
    campaign = round_.campaign
    nxt = round_get_or_create(campaign=campaign, draw_date=round_.draw_date + dt.timedelta(days=1))
    if nxt.state != Round.State.OPEN:
        return 0
    already = set(Registration.objects.filter(round=nxt).values_list("person_id", flat=True))
    new = []
    for r in Registration.objects.filter(round=round_, status=Registration.Status.LOST).exclude(person_id__in=already):
        losses = r.losses_before + 1
        new.append(Registration(
            campaign=campaign, round=nxt, person_id=r.person_id, number=random_code(10),
            entry_id=secrets.token_hex(16), district_id=r.district_id, outlet_id=r.outlet_id,
            accept_any=r.accept_any, weight=_weight(campaign, losses), losses_before=losses,
            channel=Registration.Channel.ROLLOVER, consent_version=r.consent_version, consent_at=r.consent_at,
            consent_health_version=r.consent_health_version, consent_health_at=r.consent_health_at,
            health_sealed=r.health_sealed, rolled_from=r))
    Registration.objects.bulk_create(new, batch_size=1000)
    return len(new)


def draw_verify(*, draw: Draw) -> Draw:
    """Run the standalone verifier over the published bundle and record its verdict."""
    d = Draw.objects.get(pk=draw.pk)
    with tempfile.TemporaryDirectory() as tmp:
        for f in DrawFile.objects.filter(draw=d):
            (Path(tmp) / f.name).write_bytes(bytes(f.content))
        try:
            summary = lottery.verify_bundle(tmp).summary()
            ok = True
        except lottery.VerificationFailed as exc:
            summary, ok = f"FAILED {exc.code}: {exc.message}", False
    Draw.objects.filter(pk=d.pk).update(verified_at=timezone.now() if ok else None, verify_summary=summary[:300])
    log_action("allot.draw.verified", obj=d, data={"ok": ok})
    d.refresh_from_db()
    return d


def _synthetic_inputs(d: Draw, now: dt.datetime) -> Draw:
    """Demo/test only: fill in local fallback notary digits and a synthetic beacon, clearly marked."""
    if not d.notary_digits:
        d = draw_notary_digits_submit(draw=d, digits="".join(secrets.choice("0123456789") for _ in range(
            max(6, d.round.campaign.notary_digits_min))), actor=None, source=LOCAL_FALLBACK,
            now=min(now, d.beacon_time - dt.timedelta(seconds=1)))
    if not d.beacon_signature:
        d = draw_beacon_submit(draw=d, round_no=d.beacon_round, signature_hex=secrets.token_hex(48), actor=None,
                               now=max(now, d.beacon_time))
    return d


def draw_advance(*, round_: Round, now: dt.datetime | None = None) -> Draw | None:
    """One scheduler step for a due round: commit, and finish when the randomness is in."""
    now = now or timezone.now()
    if round_.state == Round.State.OPEN and campaign_selectors.draw_moment(round_) > now:
        return None
    d = draw_commit(round_=round_, now=now)
    if d.state == Draw.State.PUBLISHED:
        return d
    if d.beacon_kind == Campaign.Beacon.SYNTHETIC and now >= d.beacon_time:
        d = _synthetic_inputs(d, now)
    if d.notary_digits and d.beacon_signature:
        d = draw_execute(draw=d, now=now)
    return d


def draw_run_now(*, campaign: Campaign, now: dt.datetime | None = None) -> Draw:
    """Demo action: draw the campaign's current round now and open its pickup window immediately.
    Only with a synthetic beacon (a real draw waits for its committed drand round)."""
    now = now or timezone.now()
    if campaign.beacon_kind != Campaign.Beacon.SYNTHETIC:
        raise Conflict(_("'Draw now' is only for demo campaigns with a synthetic beacon."), code="draw_now_forbidden")
    round_ = round_get_or_create(campaign=campaign, draw_date=campaign_selectors.draw_date_for(campaign, now))
    d = draw_commit(round_=round_, now=now)
    d = _synthetic_inputs(d, now)
    return draw_execute(draw=d, open_pickup_at=now, now=now)
