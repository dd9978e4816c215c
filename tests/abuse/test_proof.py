"""ALTCHA proof of work: real challenges, solved by brute force, accepted once (issue 5 item 7)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from allot.core.errors import DomainError
from allot.verification.models import UsedChallenge
from allot.verification.proof import challenge_create, challenge_solve, proof_verify


def _code(payload: str, purpose: str = "register") -> str:
    with pytest.raises(DomainError) as exc:
        proof_verify(payload=payload, purpose=purpose)
    assert exc.value.errors[0].field == "altcha"
    return exc.value.code


def test_a_solved_challenge_is_accepted_once_and_remembered(db):
    payload = challenge_solve(challenge_create(purpose="register"))

    proof_verify(payload=payload, purpose="register")

    assert UsedChallenge.objects.count() == 1
    assert _code(payload) == "altcha_replayed"


def test_a_wrong_counter_is_refused(db):
    payload = json.loads(base64.b64decode(challenge_solve(challenge_create(purpose="register"))))
    payload["solution"]["counter"] += 1

    assert _code(base64.b64encode(json.dumps(payload).encode()).decode()) == "altcha_invalid"


def test_a_challenge_with_tampered_parameters_is_refused(db):
    challenge = challenge_create(purpose="register")
    challenge["parameters"]["keyPrefix"] = ""  # would make any counter a solution
    payload = challenge_solve(challenge)

    assert _code(payload) == "altcha_invalid"


def test_a_challenge_for_another_purpose_is_refused(db):
    payload = challenge_solve(challenge_create(purpose="status_code"))

    assert _code(payload, purpose="register") == "altcha_invalid"


def test_an_expired_challenge_is_refused(db, settings):
    settings.ALLOT_ALTCHA_TTL_SECONDS = -1
    payload = challenge_solve(challenge_create(purpose="register"))

    assert _code(payload) == "altcha_expired"


@pytest.mark.parametrize("payload", ["", "not base64!", base64.b64encode(b"[]").decode(), "x" * 5000])
def test_garbage_is_refused_without_a_server_error(db, payload):
    assert _code(payload) in ("altcha_required", "altcha_invalid")


def test_difficulty_is_configurable_and_tiny_in_tests_but_the_work_is_real(db, settings):
    counters = [json.loads(base64.b64decode(challenge_solve(challenge_create(purpose="register"))))["solution"]
                ["counter"] for _ in range(40)]
    assert max(counters) < settings.ALLOT_ALTCHA_MAX_NUMBER == 8
    assert len(set(counters)) > 1

    settings.ALLOT_ALTCHA_MAX_NUMBER = 20_000
    started = time.perf_counter()
    hard = [json.loads(base64.b64decode(challenge_solve(challenge_create(purpose="register"))))["solution"]
            ["counter"] for _ in range(5)]
    assert max(hard) >= 8 and time.perf_counter() - started < 10
