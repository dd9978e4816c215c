"""A dump of the database holds no ID number, phone number or full name in clear."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from django.db import connection

from allot.campaigns.selectors import draw_date_for
from allot.campaigns.services import round_get_or_create, supply_set
from allot.draws.services import draw_run_now
from allot.identity.models import EligibilityList
from allot.identity.services import eligibility_import_csv
from allot.registrations.services import registration_create
from tests.conftest import make_id_number, registration_request

PEOPLE = range(1, 6)


def _populate(xiamen) -> list[str]:
    c = xiamen.campaign
    lst = EligibilityList.objects.create(code="hukou", name="厦门户籍")
    c.eligibility_lists.add(lst)
    eligibility_import_csv(eligibility_list=lst, text="id_number\n" + "\n".join(make_id_number(seq=i) for i in PEOPLE))
    round_ = round_get_or_create(campaign=c, draw_date=draw_date_for(c))
    supply_set(round_=round_, outlet=xiamen.outlets[0], packs=2)
    for i in PEOPLE:
        registration_create(campaign=c, request=registration_request(i, name=f"王小{'一二三四五'[i - 1]}"))
    draw_run_now(campaign=c)
    secrets_ = []
    for i in PEOPLE:
        secrets_ += [make_id_number(seq=i), f"139{i:08d}", f"王小{'一二三四五'[i - 1]}"]
    return secrets_


def _assert_clean(dump: str, secrets_: list[str]) -> None:
    assert "INSERT" in dump or "COPY" in dump, "the dump is empty: the test would prove nothing"
    assert "王*" in dump  # masked names are there, so the data really is in the dump
    leaked = [s for s in secrets_ if s in dump]
    assert leaked == []


def test_sqlite_dump_has_no_personal_numbers_in_clear(xiamen):
    if connection.vendor != "sqlite":
        pytest.fail("this pass runs on SQLite")
    secrets_ = _populate(xiamen)
    connection.ensure_connection()
    dump = "\n".join(connection.connection.iterdump())
    _assert_clean(dump, secrets_)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_dump_has_no_personal_numbers_in_clear(xiamen):
    assert connection.vendor == "postgresql"
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump is needed for this test (Debian package postgresql-client)"
    secrets_ = _populate(xiamen)
    s = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": s.get("PASSWORD") or ""}
    out = subprocess.run([pg_dump, "-h", s["HOST"] or "127.0.0.1", "-p", str(s["PORT"] or 5432), "-U", s["USER"],
                          "--data-only", s["NAME"]], capture_output=True, text=True, env=env, check=True)
    _assert_clean(out.stdout, secrets_)
