"""``allot.core.runtime.gc_tune``: the serving processes' garbage collector (ALLOT_GC_THRESHOLDS)."""

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from allot.core.runtime import gc_tune

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_thresholds_are_set_and_what_is_loaded_is_frozen(restore_gc):
    assert gc_tune(" 50000,20,100 ") == (50000, 20, 100)
    assert gc.get_threshold() == (50000, 20, 100)
    assert gc.get_freeze_count() > 0


def test_empty_keeps_pythons_defaults(restore_gc):
    before = gc.get_threshold()
    assert gc_tune("") is None
    assert gc.get_threshold() == before


@pytest.mark.parametrize("bad", ["50000,20", "a,b,c", "0,10,10", "1,2,3,4"])
def test_a_wrong_value_says_what_it_should_look_like(restore_gc, bad):
    before = gc.get_threshold()
    with pytest.raises(ImproperlyConfigured, match="three whole numbers above 0, like 50000,20,100"):
        gc_tune(bad)
    assert gc.get_threshold() == before


def test_a_serving_process_loads_at_start_up_what_its_first_request_would_load():
    """config/wsgi.py (which config/asgi.py imports): the URLconf with the views it imports, stdnum's table of region
    codes and libphonenumber's metadata for China are loaded when the process starts, not by its first claim."""
    code = ("import sys; from stdnum import numdb; import phonenumbers.data as d;"
            "before = ('config.urls' in sys.modules, 'cn/loc' in numdb._open_databases);"
            "import config.wsgi;"
            "after = ('config.urls' in sys.modules, 'cn/loc' in numdb._open_databases,"
            " 'allot.portal.firstcome_views' in sys.modules, 'phonenumbers.data.region_CN' in sys.modules);"
            "print(before, after)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "(False, False) (True, True, True, True)"
