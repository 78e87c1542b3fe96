"""The inspector's data-plane rounds and its rule across monitors: a data-plane fault sets
only the host's ports DOWN; the first report of a host down acts, another monitor's report
of the same fault is a duplicate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from doctor_tests.inspector import Inspector
from doctor_tests.inspector.events import InvalidEvent, parse_events
from doctor_tests.inspector.fake_backend import FakeCloud


def event(kind: str, host: str = "compute-1", monitor: str = "m",
          event_id: str = "e1") -> list[dict[str, object]]:
    return [{
        "time": "2024-05-01T12:00:00.123456+00:00", "type": kind,
        "details": {"hostname": host, "status": kind.rsplit(".", 1)[1], "monitor": monitor,
                    "monitor_event_id": event_id},
    }]


@pytest.fixture
def cloud() -> FakeCloud:
    cloud = FakeCloud()
    for host in ("compute-1", "compute-2"):
        cloud.add_host(host)
    for i in range(2):
        cloud.add_server(f"vm-{i}", "compute-1")
        cloud.add_port(f"port-{i}", "compute-1", f"vm-{i}")
        cloud.add_server(f"other-{i}", "compute-2")
        cloud.add_port(f"other-port-{i}", "compute-2", f"other-{i}")
    return cloud


@pytest.fixture
def inspector(cloud: FakeCloud) -> Iterator[Inspector]:
    insp = Inspector(cloud, concurrency=4, index_interval=3600)
    insp.start()
    yield insp
    insp.stop()


def handle(inspector: Inspector, kind: str, **kw: str):
    [record] = inspector.handle(parse_events(event(kind, **kw)))
    assert record.wait(5)
    return record


def ports(cloud: FakeCloud, status: str) -> set[str]:
    return {p for p, st in cloud.port_status.items() if st == status}


def test_the_dataplane_event_types_validate_and_a_wrong_status_is_refused() -> None:
    [down] = parse_events(event("compute.host.dataplane.down"))
    assert (down.kind, down.is_down) == ("dataplane_down", False)
    bad = event("compute.host.dataplane.down")
    bad[0]["details"]["status"] = "up"  # type: ignore[index]
    with pytest.raises(InvalidEvent, match="contradicts type compute.host.dataplane.down"):
        parse_events(bad)
    with pytest.raises(InvalidEvent, match="compute.host.dataplane.down"):
        parse_events(event("compute.host.nic.down"))  # the error lists the valid types


def test_dataplane_down_sets_only_the_hosts_ports_down(cloud: FakeCloud,
                                                       inspector: Inspector) -> None:
    record = handle(inspector, "compute.host.dataplane.down")
    assert ports(cloud, "DOWN") == {"port-0", "port-1"}
    assert not cloud.services["compute-1"].forced_down  # the host is not forced down
    assert "ERROR" not in cloud.server_state.values()  # the servers are untouched
    data = record.to_json()
    assert data["type"] == "compute.host.dataplane.down" and data["servers"] == []
    assert data["times"]["ports_down"] is not None and data["errors"] == []
    assert inspector.hosts_down() == [] and inspector.dataplanes_down() == ["compute-1"]
    assert handle(inspector, "compute.host.dataplane.down").duplicate  # said once
    up = handle(inspector, "compute.host.dataplane.up")
    assert not up.duplicate and ports(cloud, "DOWN") == set()
    assert ports(cloud, "ACTIVE") >= {"port-0", "port-1"}


def test_the_first_host_down_acts_and_another_monitors_report_is_a_duplicate(
        cloud: FakeCloud, inspector: Inspector) -> None:
    first = handle(inspector, "compute.host.down", monitor="doctor-sample-monitor")
    second = handle(inspector, "compute.host.down", monitor="doctor-collectd-monitor",
                    event_id="e2")
    assert not first.duplicate and second.duplicate
    assert second.to_json()["monitor"] == "doctor-collectd-monitor"
    resets = cloud.calls_named("reset_server_error")
    assert len(resets) == 2  # each server once, from the first report only
    assert [r.monitor for r in inspector.records("compute-1")
            if not r.duplicate] == ["doctor-sample-monitor"]


def test_a_dataplane_report_of_a_host_that_is_down_changes_no_port_and_is_remembered(
        cloud: FakeCloud, inspector: Inspector) -> None:
    handle(inspector, "compute.host.down")
    calls = len(cloud.calls)
    dp = handle(inspector, "compute.host.dataplane.down")
    assert not dp.duplicate and dp.ports == () and len(cloud.calls) == calls
    up = handle(inspector, "compute.host.up")  # back, its data plane still down
    assert not cloud.services["compute-1"].forced_down
    assert up.ports == () and ports(cloud, "DOWN") == {"port-0", "port-1"}
    handle(inspector, "compute.host.dataplane.up")
    assert ports(cloud, "DOWN") == set()


def test_a_host_down_after_its_dataplane_went_down_is_a_full_round(
        cloud: FakeCloud, inspector: Inspector) -> None:
    handle(inspector, "compute.host.dataplane.down")
    record = handle(inspector, "compute.host.down")
    assert not record.duplicate and cloud.services["compute-1"].forced_down
    assert {s for s, st in cloud.server_state.items() if st == "ERROR"} == {"vm-0", "vm-1"}
    assert inspector.dataplanes_down() == ["compute-1"]
