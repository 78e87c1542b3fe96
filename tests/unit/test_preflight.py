"""Preflight decisions that need no cloud: Aodh's event-alarm cache."""

from __future__ import annotations

import pytest

from doctor_tests.preflight import LAB_MAX_CACHE_TTL_S, PreflightError, check_event_alarm_cache


def test_cache_off_means_no_wait() -> None:
    assert check_event_alarm_cache(0, "local") == 0.0
    assert check_event_alarm_cache(0, "devstack") == 0.0


def test_lab_short_cache_is_waited_out() -> None:
    assert check_event_alarm_cache(2, "local") == 2.0


def test_lab_long_or_unknown_cache_names_the_fix() -> None:
    with pytest.raises(PreflightError, match="event_alarm_cache_ttl.*doctor lab up"):
        check_event_alarm_cache(LAB_MAX_CACHE_TTL_S + 1, "local")
    with pytest.raises(PreflightError, match="doctor lab up"):
        check_event_alarm_cache(None, "local")


def test_other_clouds_wait_their_ttl_or_aodhs_default() -> None:
    assert check_event_alarm_cache(60, "devstack") == 60.0
    assert check_event_alarm_cache(None, "kolla") == 60.0
