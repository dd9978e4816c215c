"""``allot.core.conf.setting``: Django's settings, remembered, and read again after a setting changes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from allot.core.conf import setting

ROOT = Path(__file__).resolve().parents[2]


def test_a_setting_is_read_remembered_and_read_again_after_a_change(settings):
    settings.ALLOT_TEST_KNOB = 3
    assert setting("ALLOT_TEST_KNOB", 1) == 3
    with override_settings(ALLOT_TEST_KNOB=7):
        assert setting("ALLOT_TEST_KNOB", 1) == 7
    assert setting("ALLOT_TEST_KNOB", 1) == 3
    assert setting("ALLOT_TEST_NEVER_SET", 1) == 1   # not defined: the caller's default, each caller's own
    assert setting("ALLOT_TEST_NEVER_SET", "x") == "x"
    with override_settings(ALLOT_TEST_NEVER_SET=5):
        assert setting("ALLOT_TEST_NEVER_SET", 1) == 5
    assert setting("ALLOT_TEST_NEVER_SET", 1) == 1


@pytest.mark.parametrize(("database_url", "target"), [
    ("sqlite:///var/unused.sqlite3", 150.0),
    ("postgres://postgres@127.0.0.1:5432/unused", 50.0),
])
def test_the_claim_lanes_target_defaults_by_database(database_url, target):
    """ALLOT_LANE_TARGET_MS: 150 ms on SQLite, whose claims also wait for their process's turn at the file; 50 ms
    on PostgreSQL (bench/README.md, eleventh session). Read as a fresh process reads the settings."""
    env = {k: v for k, v in os.environ.items() if k != "ALLOT_LANE_TARGET_MS"}
    env.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.base")
    code = "from django.conf import settings; print(settings.ALLOT_LANE_TARGET_MS)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.strip().splitlines()[-1]) == target
