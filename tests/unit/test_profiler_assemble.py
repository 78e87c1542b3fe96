"""Profiler end to end on sample data: every source together gives T00..T10."""

from __future__ import annotations

import json

import pytest
from test_profiler_sources import (
    ALARM,
    AODH_HANDOFF,
    AODH_LISTENER_LOG,
    AODH_NOTIFIER_LOG,
    CEILOMETER_PUBLICATION,
    HISTORY,
    NOVA_API_LOG,
    VM,
    envelope,
    epoch,
    nova_message,
)

from doctor_tests.profiler.assemble import assemble_profile
from doctor_tests.profiler.components import breakdown
from doctor_tests.profiler.model import NAMES
from doctor_tests.profiler.sources.bus import parse_envelope
from doctor_tests.profiler.sources.clock import ClockOffset

T00 = epoch("2026-11-24 19:01:02.000")
RECORD = {
    "id": "r1", "kind": "down", "host": "compute-1", "monitor_event_id": "m1",
    "event_time": "2026-11-24T19:01:02.212400+00:00",
    "times": {"received": T00 + 0.2130, "affected_found": T00 + 0.2131,
              "host_marked_down": T00 + 0.2519, "first_server_error": T00 + 0.2905,
              "last_server_error": T00 + 0.2905, "done": T00 + 0.2906},
    "server_times": {VM: T00 + 0.2905},
}
ALARMS = [{"alarm_id": ALARM, "current": "alarm", "instance_id": VM,
           "received_at": T00 + 0.3713, "handled_at": T00 + 0.3720}]
LOGS = (AODH_LISTENER_LOG + AODH_NOTIFIER_LOG + NOVA_API_LOG).splitlines()


def notifications() -> list:
    return [parse_envelope(envelope(m)) for m in (
        nova_message(), CEILOMETER_PUBLICATION, AODH_HANDOFF)]


def test_every_source_together() -> None:
    profile = assemble_profile(
        fault_epoch=T00, inspector_record=RECORD, consumer_alarms=ALARMS, log_lines=LOGS,
        notifications=notifications(), alarm_history={ALARM: HISTORY},
        alarm_servers={ALARM: VM}, servers=[VM])
    assert profile.missing == {}
    sources = {cp.name: cp.source for cp in profile.present()}
    assert sources == {
        "T00": "trace:scenario", "T01": "trace:monitor", "T02": "trace:inspector",
        "T03": "trace:inspector", "T04_first": "trace:inspector", "T04": "trace:inspector",
        "T05": "bus:nova compute.instance.update", "T06": "bus:ceilometer alarm.all",
        "T07": "bus:aodh alarming", "T08": "log:aodh-notifier", "T09": "trace:consumer",
        "T10": "trace:consumer",
    }
    expected = {"T00": 0.0, "T01": 212.4, "T05": 301.2, "T06": 318.7, "T07": 332.0,
                "T08": 350.0, "T09": 371.3, "T10": 372.0}
    for name, ms in expected.items():
        assert profile.ms(name) == pytest.approx(ms, abs=1e-3), name
    assert profile.order_violations() == []
    parts = breakdown(profile)
    assert sum(c.us for c in parts.components) == parts.total_us
    assert parts.total_ms == pytest.approx(372.0, abs=1e-3)
    assert "1 reading(s) for other servers ignored" in profile.notes  # VM2's reset


def test_logs_and_history_only_with_a_remote_clock() -> None:
    clock = ClockOffset(offset_s=0.0015, uncertainty_s=0.0002)  # Aodh host 1.5 ms ahead
    profile = assemble_profile(
        fault_epoch=T00, inspector_record=RECORD, consumer_alarms=ALARMS, log_lines=LOGS,
        log_clock=clock, alarm_history={ALARM: HISTORY}, alarm_servers={ALARM: VM},
        servers=[VM], missing={"T05": "bus recorder off: kombu not installed"})
    assert set(profile.missing) == {"T05"}
    assert profile.missing["T05"] == "bus recorder off: kombu not installed"
    t06, t07, t08 = (profile.checkpoints[n] for n in ("T06", "T07", "T08"))
    assert t06.source == "log:aodh-listener" and "upper bound" in (t06.note or "")
    assert t06.epoch == pytest.approx(epoch("2026-11-24 19:01:02.325") - 0.0015)
    assert t07.epoch == pytest.approx(epoch("2026-11-24 19:01:02.330") - 0.0015)
    assert t07.uncertainty_ms == pytest.approx(0.2)
    assert t08.epoch == pytest.approx(epoch("2026-11-24 19:01:02.350") - 0.0015)
    # the other alarm's Triggering line (19:01:02.290) is not ours and is ignored
    assert profile.ms("T07") == pytest.approx(328.5, abs=1e-3)
    assert [c.name for c in breakdown(profile).components][2] == "nova+ceilometer"


def test_nothing_but_the_fault() -> None:
    profile = assemble_profile(fault_epoch=T00)
    assert list(profile.missing) == [n for n in NAMES if n != "T00"]
    assert profile.verdict is None
    json.dumps(profile.missing)
