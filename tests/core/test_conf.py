"""``allot.core.conf.setting``: Django's settings, remembered, and read again after a setting changes."""

from django.test import override_settings

from allot.core.conf import setting


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
