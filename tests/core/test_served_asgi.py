"""The site as ``make demo`` serves it: granian running ``config.asgi`` (the claim lane, Django behind it in a2wsgi's
threads), in a process of its own on a SQLite file migrated for the test. Requests go over TCP, so what granian
hands the application (its own ``receive``, whose awaitable is not a coroutine) is what the application gets.

Every form POST of the site failed here with a 500 while the unit tests, whose ASGI ``receive`` was a coroutine
function, passed: a2wsgi reads a body with ``asyncio.run_coroutine_threadsafe(receive())``."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The base URL of granian serving config.asgi, and its log."""
    tmp = tmp_path_factory.mktemp("served")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "DATABASE_URL": f"sqlite:///{tmp / 'allot.sqlite3'}", "ALLOT_TEST_ON_POSTGRES": "0"}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"], cwd=ROOT, env=env,
                   check=True, timeout=300)
    port = _free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "granian", "--interface", "asgi", "config.asgi:application",
                                 "--loop", "uvloop", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                                 "--no-ws", "--log-level", "warning"],
                                cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"granian did not start:\n{log.read_text(errors='replace')}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _open(opener: urllib.request.OpenerDirector, url: str, **kw: Any) -> tuple[int, str]:
    """The status and body of a request to the served site (``url`` is http://127.0.0.1:<port>/…)."""
    request = urllib.request.Request(url, **kw)  # noqa: S310 - the URL is the test's own server
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def test_a_form_posted_to_the_served_site_is_read_by_django(site):
    # given: the staff login page, with its CSRF cookie and token
    base, log = site
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    status, page = _open(opener, base + "/staff/login/", headers={"Accept-Language": "en"})
    assert status == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None

    # when: the form posted with a password that is wrong
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token[1], "username": "nobody",
                                   "password": "wrong"}).encode()
    status, page = _open(opener, base + "/staff/login/", data=body, method="POST",
                         headers={"Accept-Language": "en", "Referer": base + "/staff/login/",
                                  "Content-Type": "application/x-www-form-urlencoded"})

    # then: Django read the form and says what to fix; the server logged no error
    assert status == 200, page[:2000]
    assert "correct username and password" in page
    assert "Traceback" not in log.read_text(errors="replace")


def test_a_json_body_posted_to_the_api_is_read_by_django(site):
    # a claim the lane does not answer itself (no such campaign) with a name and nothing else: Django reads the
    # body and names the fields that are missing, not the one given
    base, log = site
    opener = urllib.request.build_opener()
    status, page = _open(opener, base + "/api/v1/campaigns/no-such-campaign/claims", data=b'{"name": "x"}',
                         method="POST", headers={"Content-Type": "application/json", "Accept-Language": "en"})
    assert status == 400, page[:2000]
    missing = {e["field"] for e in json.loads(page)["errors"] if e["code"] == "missing"}
    assert "id_number" in missing and "name" not in missing
    assert "Traceback" not in log.read_text(errors="replace")
