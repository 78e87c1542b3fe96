"""The inspector's shortcut: the notification it publishes, and when it publishes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest

from doctor_tests.inspector import Inspector
from doctor_tests.inspector.backend import ServerInfo
from doctor_tests.inspector.events import parse_events
from doctor_tests.inspector.fake_backend import FakeCloud
from doctor_tests.inspector.shortcut import ShortcutPublisher, _redact, instance_error_message


def test_message_is_an_oslo_v2_envelope_that_ceilometer_reads() -> None:
    server = ServerInfo("vm-1", "compute-1", "ACTIVE", False, "proj-1", "user-1", "web-1")
    at = datetime(2026, 11, 24, 12, 0, 1, 250000, tzinfo=timezone.utc)
    envelope = instance_error_message(server, "compute-1", at)
    assert envelope["oslo.version"] == "2.0"
    message = json.loads(envelope["oslo.message"])
    assert message["event_type"] == "compute.instance.update"
    assert message["priority"] == "INFO"
    # Ceilometer: host = 2nd part of publisher_id, service = the 1st
    assert message["publisher_id"] == "doctor-inspector.compute-1"
    assert message["timestamp"] == "2026-11-24 12:00:01.250000"
    payload = message["payload"]
    # the traits the tenant's alarm and Aodh's project matching read
    assert payload["instance_id"] == "vm-1" and payload["state"] == "error"
    assert payload["tenant_id"] == "proj-1" and payload["user_id"] == "user-1"
    assert payload["display_name"] == "web-1" and payload["old_state"] == "active"
    assert len(message["message_id"]) == 36


def test_password_is_not_shown_in_errors() -> None:
    assert _redact("rabbit://doctor:s3cret@10.0.0.1:5672/") == "rabbit://doctor:***@10.0.0.1:5672/"
    assert _redact("memory://") == "memory://"


class RecordingPublisher(ShortcutPublisher):
    def __init__(self) -> None:
        super().__init__("memory://")
        self.published: list[tuple[list[str], str]] = []
        self.connected = self.closed = False

    def connect(self) -> None:
        self.connected = True

    def instance_error(self, servers: Sequence[ServerInfo], host: str) -> int:
        self.published.append(([s.id for s in servers], host))
        return len(servers)

    def close(self) -> None:
        self.closed = True


def _down(host: str) -> list[dict[str, object]]:
    return [{"time": "2026-11-24T12:00:00+00:00", "type": "compute.host.down",
             "details": {"hostname": host, "status": "down", "monitor": "m",
                         "monitor_event_id": "e"}}]


def test_shortcut_publishes_for_the_hosts_servers_once_per_down() -> None:
    cloud = FakeCloud()
    cloud.add_host("compute-1")
    cloud.add_host("compute-2")
    for i in range(3):
        cloud.add_server(f"vm-{i}", "compute-1")
    cloud.add_server("other", "compute-2")
    publisher = RecordingPublisher()
    insp = Inspector(cloud, concurrency=1, index_interval=3600, shortcut=True,
                     publisher=publisher)
    insp.start()
    try:
        assert publisher.connected  # connected at start, not on the fault path
        [record] = insp.handle(parse_events(_down("compute-1")))
        assert record.wait(5)
        assert publisher.published == [(["vm-0", "vm-1", "vm-2"], "compute-1")]
        times = record.to_json()["times"]
        assert isinstance(times, dict)
        # with one worker the shortcut runs before the first reset
        assert times["shortcut_published"] <= times["first_server_error"]
        assert {s for s, st in cloud.server_state.items() if st == "ERROR"} == {
            "vm-0", "vm-1", "vm-2"}
        insp.handle(parse_events(_down("compute-1")))  # flapping: no second round
        assert len(publisher.published) == 1
    finally:
        insp.stop()
    assert publisher.closed


def test_shortcut_without_a_bus_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="bus_url"):
        Inspector(FakeCloud(), shortcut=True)


def test_no_shortcut_by_default() -> None:
    cloud = FakeCloud()
    cloud.add_host("compute-1")
    cloud.add_server("vm-0", "compute-1")
    insp = Inspector(cloud, concurrency=1, index_interval=3600)
    insp.start()
    try:
        [record] = insp.handle(parse_events(_down("compute-1")))
        assert record.wait(5)
        times = record.to_json()["times"]
        assert isinstance(times, dict) and "shortcut_published" not in times
        assert insp.health()["shortcut"] is False
    finally:
        insp.stop()


class SlowPublisher(RecordingPublisher):
    """Publishing takes a while: nothing may reach Nova before it is out."""

    def __init__(self, cloud: FakeCloud) -> None:
        super().__init__()
        self.cloud = cloud
        self.finished_at = 0.0

    def instance_error(self, servers: Sequence[ServerInfo], host: str) -> int:
        import threading
        import time

        threading.Event().wait(0.05)
        self.finished_at = time.monotonic()  # the fake cloud's clock
        return super().instance_error(servers, host)


@pytest.mark.parametrize("strategy", ["service_first", "parallel", "at_once"])
def test_shortcut_is_out_before_any_call_to_nova_and_the_resets_are_paced(strategy: str
                                                                        ) -> None:
    cloud = FakeCloud(delay=0.01)
    cloud.add_host("compute-1")
    for i in range(10):
        cloud.add_server(f"vm-{i}", "compute-1")
    publisher = SlowPublisher(cloud)
    insp = Inspector(cloud, concurrency=16, index_interval=3600, shortcut=True,
                     publisher=publisher, strategy=strategy, shortcut_pace=2)
    insp.start()
    try:
        record = insp.host_down("compute-1")
        assert record.wait(10)
    finally:
        insp.stop()
    calls = cloud.action_calls()
    assert len(calls) == 11 and min(c.started for c in calls) >= publisher.finished_at
    resets = cloud.calls_named("reset_server_error")
    most = max(sum(1 for r in resets if r.started <= c.started < r.ended) for c in resets)
    if strategy == "at_once":
        assert most > 2  # the predecessor's design knows no pace
    else:
        assert most <= 2
