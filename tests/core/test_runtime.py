"""``allot.core.runtime.gc_tune``: the serving processes' garbage collector (ALLOT_GC_THRESHOLDS)."""

import gc

import pytest
from django.core.exceptions import ImproperlyConfigured

from allot.core.runtime import gc_tune


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
