"""Services behind the resident's public channels of a first-come campaign (the claim page and the app API):

* ``claim_submit``: the abuse controls — proof of work, rate limits per client address, phone and ID number —
  in front of ``services.claim_create`` (desk and demo callers use ``claim_create`` directly);
* ``claim_code_send`` / ``claim_code_verify``: a resident sees their own claim after a one-time code sent to the
  phone on file, never by typing a claim number and an ID number (that answered "is there a claim for this ID
  number?" to anyone who could guess the pair).

Kept beside ``services.py`` rather than in it: the claim path there is tuned statement by statement, and these
controls wrap it without touching it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils import timezone

from allot.campaigns.models import Campaign
from allot.core.audit import log_action
from allot.core.conf import setting
from allot.core.errors import DomainError
from allot.firstcome import selectors
from allot.firstcome.models import Claim
from allot.firstcome.services import ClaimRequest, Count, claim_job, claim_plan, claim_run, window_check
from allot.firstcome.writer import ClaimJob
from allot.identity import validation
from allot.identity.services import id_index, phone_index
from allot.verification.models import OneTimeCode
from allot.verification.otp import otp_verify
from allot.verification.proof import Solved, proof_check, proof_redeem_counted
from allot.verification.ratelimit import Client, rate_limit

if TYPE_CHECKING:
    from allot.registrations.services import CodeSent

logger = logging.getLogger("allot.verification")
PROOF_CHANNELS = (Claim.Channel.WEB, Claim.Channel.API)


def claim_proof_required(channel: str) -> bool:
    """Whether a claim from ``channel`` must carry a solved proof of work. ``ALLOT_CLAIM_PROOF_CHANNELS`` (default:
    web and api, i.e. always) lists the channels that must; take a channel out only for a client that cannot
    compute one (a partner's app, say), knowing that its claims are then held back by the rate limits alone."""
    channels = setting("ALLOT_CLAIM_PROOF_CHANNELS", None)
    return channel in (PROOF_CHANNELS if channels is None else tuple(channels))


def _index_or_empty(parse: Callable[[str], str], index: Callable[[str], str], value: str) -> str:
    try:
        return index(parse(value))
    except DomainError:
        return ""  # not counted: claim_create reports the field error


def claim_prepare(*, campaign: Campaign, request: ClaimRequest, proof: str, client: Client,
                  channel: str = Claim.Channel.WEB, now: dt.datetime | None = None,
                  list_ids: tuple[int, ...] | None = None, count_refused: bool = True) -> ClaimJob:
    """Everything of ``claim_submit`` before the unit, on the request side: the window, the proof of work checked
    (not yet redeemed), the claim checked up to its unit (``claim_plan``) and its rows built. The job it returns
    carries what the writer counts before it takes the unit (``services.Count``).

    A claim refused here by ``claim_plan`` is counted and spends its proof first, as any attempt that gets past
    the proof (``count_refused``; the claim lane checks without counting first, and counts in a thread only when
    a claim is refused, since counting is I/O its event loop must not wait for)."""
    now = now or timezone.now()
    window_check(campaign, now)
    # a bad proof costs no validation and counts nothing
    solved = proof_check(payload=proof, purpose="claim") if claim_proof_required(channel) else None
    keys = {"ip": client.ip,
            "phone": _index_or_empty(validation.normalize_phone, phone_index, request.phone),
            "id": _index_or_empty(validation.normalize_id_number, id_index, request.id_number)}
    try:
        plan = claim_plan(campaign=campaign, request=request, channel=channel, now=now, list_ids=list_ids)
    except DomainError:
        if count_refused:
            _count(solved, keys)
        raise
    return claim_job(plan=plan, count=Count(solved=solved, keys=keys))


def _count(solved: Solved | None, keys: dict[str, str]) -> None:
    """Redeem the proof and count the attempt (Redis, or the write-behind buffer): its own refusal, if any,
    comes first."""
    if solved is not None:
        proof_redeem_counted(solved=solved, scope="claim", keys=keys)
    else:
        rate_limit(scope="claim", buffered=True, keys=keys)


def claim_submit(*, campaign: Campaign, request: ClaimRequest, proof: str, client: Client,
                 channel: str = Claim.Channel.WEB, now: dt.datetime | None = None,
                 list_ids: tuple[int, ...] | None = None) -> Claim:
    """A claim from a public channel, in this order:

    1. the window: closed, maintenance or not open yet is refused before anything is spent or counted;
    2. the proof of work, purpose ``claim``, each solution accepted once (400 ``altcha_required``,
       ``altcha_invalid``, ``altcha_expired``, ``altcha_replayed``), unless the channel is switched off;
    3. the rate limits of scope ``claim`` on the client address, the phone and the ID number (blind indexes),
       counted for every attempt that gets this far (429 ``rate_limited``);
    4. the claim itself (``services.claim_plan`` and the unit), with its own codes.

    Steps 1, 2 (checking) and the checks of 4 run here (``claim_prepare``); redeeming, counting and the unit run
    in the process's claim writer, for all the claims that arrived together: with ``REDIS_URL`` in one script
    call (``store.take_batch``), else through the write-behind buffer (``allot/verification/buffer.py``: no write
    transaction of its own on the claim path) before the batch's transaction decides the units. Either store
    unreachable → 503 ``rate_limit_unavailable`` and no claim."""
    return claim_run(job=claim_prepare(campaign=campaign, request=request, proof=proof, client=client,
                                       channel=channel, now=now, list_ids=list_ids))


# --- the resident's own claim: a one-time code to the phone on file ------------------------------------------

def claim_code_send(*, campaign: Campaign, id_number: str, proof: str, client: Client,
                    now: dt.datetime | None = None) -> CodeSent:
    """Send a one-time code to the phone on file for ``id_number`` — the phone given with that ID number's latest
    claim or registration — bound to this campaign. The answer, and the work done to give it, are the same
    whether the ID number has a claim here, is on file without one, or is unknown: this is the registration
    path's ``status_code_send`` (proof of work ``status_code``; limits per address, session and ID number; a
    silent SMS limit per phone), not a copy of it."""
    from allot.registrations.services import status_code_send

    return status_code_send(campaign=campaign, id_number=id_number, proof=proof, client=client, now=now)


@dataclass(frozen=True)
class OwnClaim:
    person_id: int
    claim: Claim | None   # the latest in the campaign; None if the person has none there


def claim_code_verify(*, campaign: Campaign, token: str, code: str, client: Client,
                      now: dt.datetime | None = None) -> OwnClaim:
    """The resident's own claim once the code is right, or ``DomainError`` (field ``code``): code_invalid,
    code_expired, code_attempts_exceeded (429; 5 tries per code), rate_limited. Opening it is audited."""
    rate_limit(scope="code_verify", keys={"ip": client.ip, "session": client.session})
    person = otp_verify(token=token, code=code, purpose=OneTimeCode.Purpose.STATUS, scope=campaign.slug, now=now)
    log_action("allot.firstcome.status_opened", obj=person, actor_label="resident/otp",
               data={"campaign": campaign.slug})
    return OwnClaim(person.pk, selectors.claim_latest_of(campaign=campaign, person_pk=person.pk))
