"""First come, first served under contention, on PostgreSQL: never more claims than the quota, never two
claims of one person in a day — through the database path and through the Redis path.

Each race is first shown with the guard removed (a naive read-then-write claim), then with the real service.
8 processes (fork) claim for 200 different people against a quota of 20; 50 threads (one connection each,
well under max_connections=100) claim for the same person at once."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

import pytest
from django.db import connections
from django.utils import timezone

from allot.core.codes import random_code
from allot.core.errors import DomainError
from allot.firstcome.models import Claim, Quota
from allot.firstcome.selectors import window
from allot.firstcome.services import claim_create, quota_get_or_create
from allot.identity import validation
from allot.identity.services import PersonInput, person_upsert
from tests.firstcome.hangzhou import (
    REDIS_TEST_URL,
    build_hangzhou,
    claim_request,
    claim_unique_constraint_dropped,
    clear_caches,
)

PROCS = 8
PEOPLE = 200
QUOTA = 20
SAME_PERSON_THREADS = 50


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def redis_path(settings):
    """The Redis path, on a Redis database number only tests use; emptied before and after."""
    import redis

    settings.REDIS_URL = REDIS_TEST_URL
    r = redis.Redis.from_url(REDIS_TEST_URL)
    r.flushdb()
    yield r
    r.flushdb()
    r.close()


@pytest.fixture
def campaign(transactional_db):
    c = build_hangzhou(quota=QUOTA)
    quota_get_or_create(campaign=c, day=window(c).day, scope_key="city")
    return c


def _naive_claim(campaign, n: int) -> None:
    """The unguarded version: read the counter, check, then write what was read plus one."""
    req = claim_request(n)
    quota = Quota.objects.get(campaign=campaign)
    if Claim.objects.filter(campaign=campaign, day=quota.day,
                            person__id_index=_idx(req.id_number)).exists():
        raise DomainError("already", code="already_claimed")
    if quota.taken >= quota.units:
        raise DomainError("sold out", code="sold_out")
    time.sleep(0.01)  # validating the address, sealing the personal data… widens the window
    person = person_upsert(data=PersonInput(id_number=validation.normalize_id_number(req.id_number),
                                            phone=validation.normalize_phone(req.phone), name=req.name))
    Claim.objects.create(campaign=campaign, quota=quota, day=quota.day, person=person, number=random_code(10),
                         scope_key="city", units=5, consent_version="x", consent_at=timezone.now())
    Quota.objects.filter(pk=quota.pk).update(taken=quota.taken + 1)


def _idx(id_number: str) -> str:
    from allot.identity.services import id_index

    return id_index(validation.normalize_id_number(id_number))


def _claim(campaign, n: int, naive: bool) -> str:
    try:
        if naive:
            _naive_claim(campaign, n)
        else:
            claim_create(campaign=campaign, request=claim_request(n), list_ids=())
    except DomainError as exc:
        return exc.code
    return "ok"


def _child(campaign_pk: int, people: list[int], naive: bool, barrier, results) -> None:
    from allot.campaigns.models import Campaign

    try:
        campaign = Campaign.objects.get(pk=campaign_pk)
        barrier.wait()
        for n in people:
            results.put(_claim(campaign, n, naive))
    finally:
        connections.close_all()


def _race_processes(campaign, naive: bool) -> list[str]:
    ctx = mp.get_context("fork")
    connections.close_all()  # each child opens its own connection
    barrier, results = ctx.Barrier(PROCS), ctx.Queue()
    shares = [list(range(i, PEOPLE, PROCS)) for i in range(PROCS)]
    procs = [ctx.Process(target=_child, args=(campaign.pk, share, naive, barrier, results)) for share in shares]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(PEOPLE)]
    for p in procs:
        p.join(30)
    return outcomes


def _race_threads(campaign, naive: bool) -> list[str]:
    barrier = threading.Barrier(SAME_PERSON_THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            result = _claim(campaign, 7, naive)
            with lock:
                outcomes.append(result)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(SAME_PERSON_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes


# --- many people, a small quota -------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_naive_claims_from_8_processes_oversell_the_quota(campaign):
    outcomes = _race_processes(campaign, naive=True)

    assert outcomes.count("ok") > QUOTA, outcomes
    assert Claim.objects.count() > QUOTA


@pytest.mark.django_db(transaction=True)
def test_8_processes_through_the_database_path_give_exactly_the_quota(campaign):
    outcomes = _race_processes(campaign, naive=False)

    assert outcomes.count("ok") == QUOTA, outcomes
    assert outcomes.count("sold_out") == PEOPLE - QUOTA
    assert Claim.objects.count() == QUOTA
    assert Quota.objects.get().taken == QUOTA


@pytest.mark.django_db(transaction=True)
def test_8_processes_through_the_redis_path_give_exactly_the_quota(campaign, redis_path):
    outcomes = _race_processes(campaign, naive=False)

    assert outcomes.count("ok") == QUOTA, outcomes
    assert outcomes.count("sold_out") == PEOPLE - QUOTA
    assert Claim.objects.count() == QUOTA
    assert Quota.objects.get().taken == QUOTA


@pytest.mark.django_db(transaction=True)
def test_8_processes_with_redis_emptied_mid_surge_still_give_exactly_the_quota(campaign, redis_path):
    def flush_soon() -> None:
        time.sleep(0.05)
        redis_path.flushdb()

    flusher = threading.Thread(target=flush_soon)
    flusher.start()
    outcomes = _race_processes(campaign, naive=False)
    flusher.join()

    assert Claim.objects.count() == QUOTA == Quota.objects.get().taken
    assert outcomes.count("ok") == QUOTA, outcomes


# --- one person, 50 requests at once --------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_without_the_unique_constraint_one_person_gets_several_claims(campaign):
    with claim_unique_constraint_dropped():
        outcomes = _race_threads(campaign, naive=True)
        assert outcomes.count("ok") > 1, outcomes


@pytest.mark.django_db(transaction=True)
def test_50_parallel_claims_of_one_person_give_one_claim_through_the_database_path(campaign):
    outcomes = _race_threads(campaign, naive=False)

    assert outcomes.count("ok") == 1, outcomes
    assert outcomes.count("already_claimed") == SAME_PERSON_THREADS - 1
    assert Claim.objects.count() == 1 == Quota.objects.get().taken


@pytest.mark.django_db(transaction=True)
def test_50_parallel_claims_of_one_person_give_one_claim_through_the_redis_path(campaign, redis_path):
    outcomes = _race_threads(campaign, naive=False)

    assert outcomes.count("ok") == 1, outcomes
    assert outcomes.count("already_claimed") == SAME_PERSON_THREADS - 1
    assert Claim.objects.count() == 1 == Quota.objects.get().taken


# --- group commit: several processes, each with many threads, so that batches form ---------------------

def _child_threads(campaign_pk: int, people: list[int], barrier, results, stats) -> None:
    from allot.campaigns.models import Campaign
    from allot.firstcome import services

    try:
        campaign = Campaign.objects.get(pk=campaign_pk)
        connections.close_all()
        barrier.wait()
        def claims(mine: list[int]) -> None:
            try:
                for n in mine:
                    results.put(_claim(campaign, n, False))
            finally:
                connections.close_all()

        # 12 threads per process: 4 × (12 + the writer) connections stay well under max_connections (100)
        threads = [threading.Thread(target=claims, args=(people[k::12],)) for k in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        stats.put((services._claim_writer.batches, services._claim_writer.jobs))
        services._claim_writer.stop()
    finally:
        connections.close_all()


@pytest.mark.parametrize("path", ["database", "redis"])
@pytest.mark.django_db(transaction=True)
def test_4_processes_of_12_threads_through_group_commit_give_exactly_the_quota(campaign, request, path):
    if path == "redis":
        request.getfixturevalue("redis_path")
    ctx = mp.get_context("fork")
    connections.close_all()
    procs_n = 4
    barrier, results, stats = ctx.Barrier(procs_n), ctx.Queue(), ctx.Queue()
    shares = [list(range(i, PEOPLE, procs_n)) for i in range(procs_n)]
    procs = [ctx.Process(target=_child_threads, args=(campaign.pk, share, barrier, results, stats))
             for share in shares]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(PEOPLE)]
    writer_stats = [stats.get(timeout=60) for _ in range(procs_n)]
    for p in procs:
        p.join(30)

    assert outcomes.count("ok") == QUOTA, outcomes
    assert outcomes.count("sold_out") == PEOPLE - QUOTA
    assert Claim.objects.count() == QUOTA == Quota.objects.get().taken
    batches, jobs = sum(s[0] for s in writer_stats), sum(s[1] for s in writer_stats)
    assert jobs >= QUOTA
    assert batches < jobs, writer_stats   # claims were grouped: fewer transactions than claims


# --- the claim lane (config/asgi.py): processes, each with many claims at once on its event loop -----------

def _child_lane(people: list[int], barrier, results) -> None:
    """One server process's worth: the ASGI application with its claim lane, ``people`` claiming all at once on
    its event loop (each claim's answer, by its error code, into ``results``)."""
    import json

    from tests.firstcome.hangzhou import claim_body
    from tests.firstcome.lane import Served, call_many

    served = Served()
    try:
        bodies = [claim_body(n) for n in people]   # proofs of work solved before the start
        connections.close_all()
        barrier.wait()
        for status, _headers, body in call_many(served.lane, bodies):
            results.put("ok" if status == 201 else json.loads(body)["errors"][0]["code"])
    finally:
        served.close()
        connections.close_all()


def _race_lane(people_of_each: list[list[int]]) -> list[str]:
    ctx = mp.get_context("fork")
    connections.close_all()
    barrier, results = ctx.Barrier(len(people_of_each)), ctx.Queue()
    procs = [ctx.Process(target=_child_lane, args=(people, barrier, results)) for people in people_of_each]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(sum(len(p) for p in people_of_each))]
    for p in procs:
        p.join(30)
    return outcomes


@pytest.mark.parametrize("path", ["database", "redis"])
@pytest.mark.django_db(transaction=True)
def test_8_processes_through_the_claim_lane_give_exactly_the_quota(campaign, request, path):
    if path == "redis":
        request.getfixturevalue("redis_path")

    outcomes = _race_lane([list(range(i, PEOPLE, PROCS)) for i in range(PROCS)])

    assert outcomes.count("ok") == QUOTA, outcomes
    assert outcomes.count("sold_out") == PEOPLE - QUOTA
    assert Claim.objects.count() == QUOTA == Quota.objects.get().taken


@pytest.mark.parametrize("path", ["database", "redis"])
@pytest.mark.django_db(transaction=True)
def test_one_person_from_8_processes_at_once_through_the_claim_lane_gets_one_claim(campaign, request, settings,
                                                                                     path):
    if path == "redis":
        request.getfixturevalue("redis_path")
    # the per-ID and per-phone limits would stop this resident's 48 attempts first (429): lifted, to reach the claim
    settings.ALLOT_RATE_LIMITS = {"claim": {"id": (1000, 3600), "phone": (1000, 86400), "ip": (10**6, 3600)}}

    outcomes = _race_lane([[7] * 6 for _ in range(PROCS)])   # 48 requests of one resident

    assert outcomes.count("ok") == 1, outcomes
    assert outcomes.count("already_claimed") == PROCS * 6 - 1
    assert Claim.objects.count() == 1 == Quota.objects.get().taken

