"""The claim writer on the lane's event loop (``allot.firstcome.loop_writer``; PostgreSQL with Redis): the batch's
script call and statement made with asyncio drivers, the same rows written as the thread writer writes, and every
case it does not handle itself handed to code in a thread that decides as before."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from django.db import connection

from allot.core.models import AuditLog
from allot.delivery.models import Parcel
from allot.firstcome import services
from allot.firstcome.models import Claim, Quota
from tests.firstcome.hangzhou import build_hangzhou, claim_body, clear_caches, redis_gone
from tests.firstcome.lane import call, call_many, code, request

pytestmark = pytest.mark.postgres
ACCEPTED = "allot.firstcome.claim_accepted"


@pytest.fixture(autouse=True)
def _fresh():
    assert connection.vendor == "postgresql"
    clear_caches()
    services._claim_writer.batches = services._claim_writer.jobs = 0
    yield
    clear_caches()


def _complete(claim: Claim) -> bool:
    return (Parcel.objects.filter(claim=claim).exists()
            and AuditLog.objects.filter(action=ACCEPTED, object_id=str(claim.pk)).exists())


@pytest.mark.django_db(transaction=True)
def test_claims_at_once_are_written_by_the_loop_s_writer_exactly_to_the_quota(served, redis_store):
    # given: 8 units; the headers learned (the first claim, through Django)
    build_hangzhou(quota=8)
    assert call(served.lane, claim_body(1))[0] == 201
    thread_jobs = services._claim_writer.jobs

    # when: twenty residents at once
    answers = call_many(served.lane, [claim_body(n) for n in range(2, 22)])

    # then: exactly the units left, the rest sold out; none of them through the thread writer; every claim complete
    assert sorted(a[0] for a in answers) == [201] * 7 + [409] * 13
    assert {code(a) for a in answers if a[0] == 409} == {"sold_out"}
    assert services._claim_writer.jobs == thread_jobs
    assert Claim.objects.count() == 8 == Quota.objects.get().taken
    assert all(_complete(c) for c in Claim.objects.all())
    numbers = {json.loads(a[2])["number"] for a in answers if a[0] == 201}
    assert numbers <= set(Claim.objects.values_list("number", flat=True))


@pytest.mark.django_db(transaction=True)
def test_the_first_claim_of_a_day_loads_the_day_into_redis_in_a_thread(served, redis_store):
    # given: the headers learned on another campaign, so that this one's first claim reaches the writer
    build_hangzhou(quota=3)
    assert call(served.lane, claim_body(1))[0] == 201
    other = build_hangzhou(quota=3, slug="second")
    assert not redis_store.keys(f"*fc:{other.pk}:*")

    # when
    answer = call(served.lane, claim_body(2), path="/api/v1/campaigns/second/claims")

    # then: the day loaded from the database, the unit taken, counted once
    assert answer[0] == 201
    assert Quota.objects.get(campaign=other).taken == 1
    assert redis_store.keys(f"*fc:{other.pk}:*ready")


@pytest.mark.django_db(transaction=True)
def test_a_failed_statement_is_rolled_back_and_its_claims_written_one_by_one(served, redis_store, monkeypatch,
                                                                           caplog):
    # given: the next claim's number is one already taken (the unique index refuses the batch)
    build_hangzhou(quota=5)
    first = call(served.lane, claim_body(1))
    taken_number = json.loads(first[2])["number"]
    numbers = iter([taken_number])
    real = services.random_code
    monkeypatch.setattr(services, "random_code", lambda length: next(numbers, None) or real(length))

    # when
    answer = call(served.lane, claim_body(2))

    # then: accepted all the same, written alone with a number of its own; the unit taken once
    assert answer[0] == 201 and json.loads(answer[2])["number"] != taken_number
    assert "rolled back" in caplog.text
    assert Claim.objects.count() == 2 == Quota.objects.get().taken
    assert all(_complete(c) for c in Claim.objects.all())


@pytest.mark.django_db(transaction=True)
def test_a_unit_the_database_refuses_goes_back_to_redis(served, redis_store):
    # given: Redis counts 3 units left, the database only 1 (the quota lowered behind Redis's back)
    build_hangzhou(quota=3)
    assert call(served.lane, claim_body(1))[0] == 201
    quota = Quota.objects.get()
    Quota.objects.filter(pk=quota.pk).update(units=2)
    from allot.firstcome import store

    left_before = store.left(campaign_id=quota.campaign_id, day=quota.day, quota_ids=[quota.pk])[quota.pk]

    # when: two more claims
    answers = [call(served.lane, claim_body(n)) for n in (2, 3)]

    # then: one accepted, the other refused by the database as sold out; Redis set to none left, and the refused
    # resident forgotten there (they have no claim)
    assert [a[0] for a in answers] == [201, 409] and code(answers[1]) == "sold_out"
    assert left_before == 2
    assert store.left(campaign_id=quota.campaign_id, day=quota.day, quota_ids=[quota.pk])[quota.pk] == 0
    _ready, people = store.day_keys(quota.campaign_id, quota.day)
    assert redis_store.scard(people) == 2
    assert Claim.objects.count() == 2 == Quota.objects.get().taken


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_the_loop_s_writer_refuses_with_503(served, redis_store, settings):
    build_hangzhou(quota=5)
    assert call(served.lane, claim_body(1))[0] == 201
    redis_gone(settings)

    answers = [call(served.lane, claim_body(n)) for n in (2, 3)]

    assert [(a[0], code(a)) for a in answers] == [(503, "rate_limit_unavailable")] * 2
    assert Claim.objects.count() == 1 == Quota.objects.get().taken


@pytest.mark.django_db(transaction=True)
def test_without_the_loop_s_writer_the_thread_writer_writes_the_same(served, redis_store, settings):
    settings.ALLOT_LANE_LOOP_WRITER = False
    build_hangzhou(quota=5)
    assert call(served.lane, claim_body(1))[0] == 201

    answers = call_many(served.lane, [claim_body(n) for n in (2, 3, 4)])

    assert [a[0] for a in answers] == [201] * 3
    assert services._claim_writer.jobs >= 3
    assert Claim.objects.count() == 4 == Quota.objects.get().taken


async def _lifespan_startup(lane) -> None:
    """The server's start-up message to the lane, then its background work (the warm-up) awaited."""
    messages = [{"type": "lifespan.startup"}]
    started = asyncio.Event()

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)

    async def send(message):
        if message["type"] == "lifespan.startup.complete":
            started.set()

    task = asyncio.ensure_future(lane(({"type": "lifespan"}), receive, send))
    await started.wait()
    await asyncio.gather(*list(lane._tasks))
    task.cancel()


@pytest.mark.django_db(transaction=True)
def test_at_start_up_the_loop_s_writer_connects_and_prepares_before_any_claim(served, redis_store):
    # given: Redis knows no script; a campaign open, no claim yet
    from allot.firstcome import store

    build_hangzhou(quota=3)
    redis_store.script_flush()
    sha = hashlib.sha1(store.CLAIM_BATCH.encode(), usedforsecurity=False).hexdigest()   # how Redis names a script

    async def run():
        await _lifespan_startup(served.lane)
        writer = served.lane._loop_writer
        async with writer._pg.cursor() as cursor:
            await cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            prepared = (await cursor.fetchone())[0]
        learnt = await request(served.lane, claim_body(1))   # the headers learned (through Django)
        answer = await request(served.lane, claim_body(2))
        await served.lane.aclose()
        return writer, prepared, (learnt, answer)

    # when: the server starts
    writer, prepared, answers = asyncio.run(run())

    # then: the statement was prepared and the script loaded before any claim, nothing written by it; the lane's
    # claim then went through that same writer
    assert prepared == 1
    assert redis_store.script_exists(sha) == [True]
    assert [a[0] for a in answers] == [201, 201]
    assert writer.batches == 1 and writer.jobs == 1
    assert Claim.objects.count() == 2 == Quota.objects.get().taken
    assert AuditLog.objects.filter(action=ACCEPTED).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_warm_up_that_cannot_connect_leaves_the_connecting_to_the_first_batch(served, redis_store, settings,
                                                                                 caplog):
    # given: Redis not reachable at start-up
    build_hangzhou(quota=3)
    saved = settings.REDIS_URL
    redis_gone(settings)

    async def run():
        await _lifespan_startup(served.lane)
        warmed = served.lane._loop_writer._redis
        settings.REDIS_URL = saved   # Redis back before the opening
        answers = [await request(served.lane, claim_body(n)) for n in (1, 2)]   # the first one through Django
        writer = served.lane._loop_writer
        await served.lane.aclose()
        return warmed, writer, answers

    warmed, writer, answers = asyncio.run(run())

    # then: the server started, the failure logged; the lane's first batch connected, its claim was accepted
    assert warmed is None
    assert "could not warm up" in caplog.text
    assert [a[0] for a in answers] == [201, 201] and writer.jobs == 1
    assert Claim.objects.count() == 2 == Quota.objects.get().taken
