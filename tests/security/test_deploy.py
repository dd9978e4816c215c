"""Issue 5 §11: ``manage.py check --deploy --fail-level WARNING`` passes with the production settings and the
environment a production deploy has; the security headers are on the responses."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from allot.identity.crypto import generate_key

ROOT = Path(__file__).resolve().parents[2]


def _production_env(**over: str) -> dict[str, str]:
    """What a deploy sets (docs/security.md): no DEBUG, a long random secret, real hosts, PostgreSQL, Redis,
    fresh data keys. Nothing is read from a developer's .env: every variable is given."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "DJANGO_SETTINGS_MODULE": "config.settings.production",
           "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_DEBUG": "false",
           "DJANGO_ALLOWED_HOSTS": "masks.xm.gov.cn", "DJANGO_CSRF_TRUSTED_ORIGINS": "https://masks.xm.gov.cn",
           "DATABASE_URL": "postgres://allot@db.internal:5432/allot", "REDIS_URL": "redis://127.0.0.1:6379/0",
           "ALLOT_BLIND_INDEX_KEY": generate_key(), "ALLOT_DATA_KEYS": f"k1:{generate_key()}"}
    env.update(over)
    return env


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_passes_with_production_settings():
    result = _check(_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_hsts_is_switched_off():
    # the same run with HSTS disabled must fail: the check above is able to fail
    result = _check(_production_env(DJANGO_HSTS_SECONDS="0"))
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


def test_production_responses_carry_hsts_csp_frame_denial_and_no_store():
    # given the production settings in a real process, a request over HTTPS (as the load balancer says); the
    # OpenAPI document needs neither the database nor collected static files
    code = (
        "import django;django.setup();"
        "from django.test import Client;"
        "r=Client(HTTP_X_FORWARDED_PROTO='https').get('/api/v1/openapi.json', HTTP_HOST='masks.xm.gov.cn');"
        "print(r.status_code);"
        "[print(k+': '+r.get(k,'')) for k in ('Strict-Transport-Security','Content-Security-Policy',"
        "'X-Frame-Options','Cache-Control','X-Content-Type-Options','Referrer-Policy')]")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_production_env(), capture_output=True,
                            text=True, timeout=120)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert out.splitlines()[0] == "200", out
    assert "Strict-Transport-Security: max-age=31536000; includeSubDomains; preload" in out
    assert "script-src 'self'" in out and "frame-ancestors 'none'" in out and "'unsafe-inline'" not in out
    assert "X-Frame-Options: DENY" in out
    assert "no-store" in out.split("Cache-Control: ")[1].splitlines()[0]
    assert "X-Content-Type-Options: nosniff" in out
