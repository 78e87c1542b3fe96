"""The inspector's logic against the in-memory cloud: actions, idempotence, parallelism,
timestamps, and the host index."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from doctor_tests.inspector import HostIndex, Inspector, UnknownHost
from doctor_tests.inspector.events import parse_events
from doctor_tests.inspector.fake_backend import FakeCloud


def cloud_with(servers: int = 3, ports: int = 3, delay: float = 0.0) -> FakeCloud:
    cloud = FakeCloud(delay=delay)
    cloud.add_host("compute-1")
    cloud.add_host("compute-2")
    for i in range(servers):
        cloud.add_server(f"vm-{i}", "compute-1")
        cloud.add_server(f"other-{i}", "compute-2")
    for i in range(ports):
        cloud.add_port(f"port-{i}", "compute-1", f"vm-{i}")
        cloud.add_port(f"other-port-{i}", "compute-2")
    return cloud


@pytest.fixture
def cloud() -> FakeCloud:
    return cloud_with()


@pytest.fixture
def inspector(cloud: FakeCloud) -> Iterator[Inspector]:
    insp = Inspector(cloud, concurrency=4, index_interval=3600)
    insp.start()
    yield insp
    insp.stop()


def down_event(host: str = "compute-1") -> list[dict[str, object]]:
    return [{
        "time": "2024-05-01T12:00:00.123456+00:00",
        "type": "compute.host.down",
        "details": {"hostname": host, "status": "down", "monitor": "m", "monitor_event_id": "e1"},
    }]


def test_down_acts_on_exactly_the_hosts_resources(cloud: FakeCloud, inspector: Inspector) -> None:
    [record] = inspector.handle(parse_events(down_event()))
    assert record.wait(5)
    assert cloud.services["compute-1"].forced_down and not cloud.services["compute-2"].forced_down
    assert {s for s, st in cloud.server_state.items() if st == "ERROR"} == {"vm-0", "vm-1", "vm-2"}
    assert {p for p, st in cloud.port_status.items() if st == "DOWN"} == {
        "port-0", "port-1", "port-2",
    }
    data = record.to_json()
    assert data["servers"] == ["vm-0", "vm-1", "vm-2"] and data["errors"] == []
    assert data["monitor"] == "m" and data["monitor_event_id"] == "e1"
    assert data["complete"] is True and data["duplicate"] is False
    assert set(record.server_times) == {"vm-0", "vm-1", "vm-2"}
    assert inspector.hosts_down() == ["compute-1"]


def test_nothing_is_listed_on_the_fault_path(cloud: FakeCloud, inspector: Inspector) -> None:
    listed_before = len(cloud.listings)
    inspector.host_down("compute-1").wait(5)
    assert len(cloud.listings) == listed_before


def test_timestamps_are_in_causal_order(inspector: Inspector) -> None:
    record = inspector.host_down("compute-1", received=None)
    assert record.wait(5)
    t = record.to_json()["times"]
    assert isinstance(t, dict) and None not in t.values(), t
    assert t["received"] <= t["affected_found"] <= t["host_marked_down"] <= t["done"]
    assert t["affected_found"] <= t["first_server_error"] <= t["last_server_error"] <= t["done"]
    assert t["affected_found"] <= t["ports_down"] <= t["done"]
    for at in record.server_times.values():
        assert t["first_server_error"] <= at <= t["last_server_error"]


def test_second_down_is_a_duplicate_without_actions(
    cloud: FakeCloud, inspector: Inspector
) -> None:
    first = inspector.host_down("compute-1")
    assert first.wait(5)
    calls = len(cloud.action_calls())
    second = inspector.host_down("compute-1")
    assert second.duplicate and second.is_done
    assert len(cloud.action_calls()) == calls == 1 + 3 + 3
    assert [r.duplicate for r in inspector.records()] == [False, True]


def test_up_clears_then_down_acts_again(cloud: FakeCloud, inspector: Inspector) -> None:
    assert inspector.host_down("compute-1").wait(5)
    up = inspector.host_up("compute-1")
    assert up.wait(5) and not up.duplicate
    assert not cloud.services["compute-1"].forced_down
    assert all(cloud.port_status[f"port-{i}"] == "ACTIVE" for i in range(3))
    assert all(cloud.server_state[f"vm-{i}"] == "ERROR" for i in range(3))  # left in error
    assert len(cloud.calls_named("reset_server_error")) == 3  # up resets no server
    assert inspector.hosts_down() == []
    again = inspector.host_down("compute-1")
    assert again.wait(5) and not again.duplicate
    assert len(cloud.calls_named("force_down")) == 2
    assert cloud.services["compute-1"].forced_down


def test_up_for_a_host_that_is_not_down_does_nothing(
    cloud: FakeCloud, inspector: Inspector
) -> None:
    record = inspector.host_up("compute-2")
    assert record.duplicate and record.is_done and cloud.action_calls() == []


def test_up_waits_for_the_down_round_to_finish() -> None:
    cloud = cloud_with(servers=4, ports=4, delay=0.05)
    insp = Inspector(cloud, concurrency=2, index_interval=3600)
    insp.start()
    try:
        down = insp.host_down("compute-1")
        up = insp.host_up("compute-1")  # arrives while the down round is still running
        assert up.wait(10) and down.is_done
        calls = cloud.action_calls()
        last_down_action = max(c.ended for c in calls if c.name in ("force_down",
                               "reset_server_error", "set_port_down"))
        first_up_action = min(c.started for c in calls if c.name in ("unforce", "set_port_up"))
        assert last_down_action <= first_up_action
        assert not cloud.services["compute-1"].forced_down  # up applied last
    finally:
        insp.stop()


def test_unknown_host_is_rejected_before_anything_happens(
    cloud: FakeCloud, inspector: Inspector
) -> None:
    events = parse_events(down_event("compute-1") + down_event("no-such-host"))
    with pytest.raises(UnknownHost, match="no-such-host"):
        inspector.handle(events)
    assert cloud.action_calls() == [] and inspector.records() == []


def test_a_failing_action_is_recorded_and_does_not_stop_the_others(
    cloud: FakeCloud, inspector: Inspector
) -> None:
    cloud.fail_on = {"vm-1", "port-2"}
    record = inspector.host_down("compute-1")
    assert record.wait(5)
    errors = {(e["action"], e["id"]) for e in record.errors}
    assert errors == {("reset_server", "vm-1"), ("port", "port-2")}
    assert all("injected failure" in str(e["error"]) for e in record.errors)
    assert cloud.server_state["vm-0"] == cloud.server_state["vm-2"] == "ERROR"
    assert set(record.server_times) == {"vm-0", "vm-2"}
    assert cloud.services["compute-1"].forced_down


def test_host_without_service_still_resets_servers() -> None:
    cloud = cloud_with()
    cloud.add_server("vm-x", "compute-9")
    insp = Inspector(cloud, concurrency=2, index_interval=3600)
    insp.start()
    try:
        record = insp.host_down("compute-9")
        assert record.wait(5)
        assert cloud.server_state["vm-x"] == "ERROR"
        assert record.errors[0]["action"] == "service"
        assert record.time("host_marked_down") is None
    finally:
        insp.stop()


@pytest.mark.parametrize("concurrency", [1, 4, 16])
def test_actions_run_in_parallel_up_to_the_concurrency(concurrency: int) -> None:
    cloud = cloud_with(servers=40, ports=40, delay=0.02)
    insp = Inspector(cloud, concurrency=concurrency, index_interval=3600)
    insp.start()
    try:
        record = insp.host_down("compute-1")
        assert record.wait(30)
    finally:
        insp.stop()
    resets = cloud.calls_named("reset_server_error")
    # the pool's resets never more, and used fully; the force-down goes beside them
    assert _in_flight_during(resets, 0, float("inf")) == concurrency
    assert cloud.max_in_flight <= concurrency + 1
    assert len(cloud.action_calls()) == 81
    # the service first, then every server before any port (the alarms wait on servers)
    order = [c.name for c in sorted(cloud.action_calls(), key=lambda c: c.started)]
    assert order[0] == "force_down"
    last_server = max(i for i, n in enumerate(order) if n == "reset_server_error")
    first_port = min(i for i, n in enumerate(order) if n == "set_port_down")
    assert last_server < first_port, order


def test_health_reports_state(inspector: Inspector) -> None:
    inspector.host_down("compute-1").wait(5)
    health = inspector.health()
    assert health["status"] == "ok" and health["hosts_down"] == ["compute-1"]
    assert health["index"]["servers"] == 6  # type: ignore[index]
    assert health["concurrency"] == 4


# --- the index ----------------------------------------------------------------------------


def test_index_refresh_picks_up_new_moved_and_deleted_servers() -> None:
    cloud = cloud_with()
    cloud.clock = 1000.0
    index = HostIndex(cloud, interval=3600, overlap=2.0, clock=lambda: cloud.clock or 0.0)
    first = index.refresh()
    assert first.full and index.lookup("compute-1").servers == ("vm-0", "vm-1", "vm-2")  # type: ignore[union-attr]

    cloud.clock = 1010.0
    cloud.add_server("vm-new", "compute-1")
    cloud.add_server("vm-1", "compute-2")  # moved (e.g. migrated)
    cloud.delete_server("vm-0")
    cloud.add_port("port-new", "compute-2", "vm-1")
    stats = index.refresh()
    assert not stats.full and stats.servers_deleted == 1
    assert cloud.listings[-2] == ("servers", datetime.fromtimestamp(998.0, timezone.utc))
    assert index.lookup("compute-1").servers == ("vm-2", "vm-new")  # type: ignore[union-attr]
    assert "vm-1" in index.lookup("compute-2").servers  # type: ignore[union-attr]
    assert "port-new" in index.lookup("compute-2").ports  # type: ignore[union-attr]
    per_host = index.to_json()["hosts"]
    assert per_host["compute-1"]["server_count"] == 2  # type: ignore[index]


def test_index_window_overlaps_and_failed_refresh_keeps_the_gap_covered() -> None:
    cloud = cloud_with()
    cloud.clock = 100.0
    index = HostIndex(cloud, interval=3600, overlap=1.0, clock=lambda: cloud.clock or 0.0)
    index.refresh()
    cloud.clock = 200.0

    def broken(changes_since: datetime | None = None) -> list:
        raise RuntimeError("nova unavailable")

    real = cloud.list_servers
    cloud.list_servers = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        index.refresh()
    assert index.last is not None and "nova unavailable" in str(index.last.error)
    assert index.lookup("compute-1") is not None  # previous contents kept
    cloud.list_servers = real  # type: ignore[method-assign]
    cloud.clock = 300.0
    index.refresh()
    # the window still starts at the last successful refresh (100 - overlap)
    assert cloud.listings[-2] == ("servers", datetime.fromtimestamp(99.0, timezone.utc))


def test_index_full_resync_after_full_interval() -> None:
    cloud = cloud_with()
    cloud.clock = 0.0
    index = HostIndex(cloud, interval=3600, full_interval=60, clock=lambda: cloud.clock or 0.0)
    assert index.refresh().full
    cloud.clock = 30.0
    assert not index.refresh().full
    cloud.clock = 61.0
    assert index.refresh().full


def test_unknown_and_known_hosts() -> None:
    cloud = cloud_with()
    cloud.add_host("empty-host")
    index = HostIndex(cloud)
    index.refresh()
    assert index.lookup("nope") is None
    entry = index.lookup("empty-host")
    assert entry is not None and entry.servers == () and entry.service is not None
    assert index.hosts() == ["compute-1", "compute-2", "empty-host"]


def test_background_refresh_sees_a_new_server() -> None:
    cloud = cloud_with()
    cloud.clock = 50.0
    index = HostIndex(cloud, interval=0.01, clock=lambda: cloud.clock or 0.0)
    index.refresh()
    index.start()
    try:
        refreshes = index.refreshes
        cloud.add_server("vm-late", "compute-2")
        deadline = time.monotonic() + 5
        tick = threading.Event()
        while time.monotonic() < deadline:
            entry = index.lookup("compute-2")
            if entry and "vm-late" in entry.servers:
                break
            tick.wait(0.01)
        assert "vm-late" in index.lookup("compute-2").servers  # type: ignore[union-attr]
        assert index.refreshes > refreshes
    finally:
        index.stop()


def test_start_warms_connections_with_the_indexed_resources(cloud: FakeCloud) -> None:
    insp = Inspector(cloud, concurrency=2, index_interval=3600)
    insp.start()
    insp.stop()
    [(servers, ports, parallel)] = cloud.warmed
    assert parallel == 2 and len(servers) == 2 and len(ports) == 2
    assert set(servers) <= set(cloud.servers) and set(ports) <= set(cloud.port_info)
    # no action was taken on the way
    assert cloud.action_calls() == []


def test_warm_up_can_be_switched_off(cloud: FakeCloud) -> None:
    insp = Inspector(cloud, concurrency=2, index_interval=3600, warm_up=False)
    insp.start()
    insp.stop()
    assert cloud.warmed == []


def test_ports_start_after_every_server_reset() -> None:
    cloud = cloud_with(servers=6, ports=6, delay=0.01)
    insp = Inspector(cloud, concurrency=4, index_interval=3600)
    insp.start()
    try:
        [record] = insp.handle(parse_events(down_event()))
        assert record.wait(5)
    finally:
        insp.stop()
    resets = cloud.calls_named("reset_server_error")
    ports = cloud.calls_named("set_port_down")
    assert len(resets) == 6 and len(ports) == 6
    assert min(p.started for p in ports) >= max(r.ended for r in resets)


def test_index_refresh_holds_while_a_round_runs() -> None:
    cloud = cloud_with()
    now = [1000.0]
    index = HostIndex(cloud, interval=3600, clock=lambda: now[0], max_hold_s=30)
    assert not index._held()
    index.hold()
    index.hold()
    assert index._held()
    index.release()
    assert index._held()  # holds nest
    now[0] += 31
    assert not index._held()  # a hold that old no longer pauses the refresh
    index.release()
    now[0] = 1000.0
    assert not index._held()


def _round(cloud: FakeCloud, **options: object) -> dict[str, object]:
    insp = Inspector(cloud, index_interval=3600, **options)  # type: ignore[arg-type]
    insp.start()
    try:
        record = insp.host_down("compute-1")
        assert record.wait(30)
        return record.to_json()
    finally:
        insp.stop()


def _in_flight_during(calls: list, start: float, end: float) -> int:  # type: ignore[type-arg]
    """The most calls in flight at once between ``start`` and ``end``."""
    edges = sorted([(c.started, 1) for c in calls if c.started < end and c.ended > start]
                   + [(c.ended, -1) for c in calls if c.started < end and c.ended > start])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_service_first_forces_the_host_down_with_few_resets_beside_it() -> None:
    from doctor_tests.inspector.core import SERVICE_OVERLAP

    cloud = cloud_with(servers=40, ports=2, delay=0.01)
    cloud.delays["force_down"] = 0.05
    _round(cloud, concurrency=6)  # the default strategy
    [down] = cloud.calls_named("force_down")
    resets = cloud.calls_named("reset_server_error")
    assert down.thread.startswith("inspector-lane")  # not queued in the resets' pool
    # the first resets go at once, beside it, but only a few while it runs ...
    assert min(r.started for r in resets) < down.ended
    assert _in_flight_during(resets, down.started, down.ended) == SERVICE_OVERLAP
    # ... and the pool's full concurrency once it has returned
    assert _in_flight_during(resets, down.ended, max(r.ended for r in resets)) == 6
    ports = cloud.calls_named("set_port_down")
    assert min(p.started for p in ports) >= max(r.ended for r in resets)


def test_parallel_sends_the_force_down_with_the_resets() -> None:
    cloud = cloud_with(servers=8, ports=2, delay=0.02)
    _round(cloud, concurrency=4, strategy="parallel")
    [down] = cloud.calls_named("force_down")
    resets = cloud.calls_named("reset_server_error")
    assert min(r.started for r in resets) < down.ended  # overlapping
    assert cloud.max_in_flight == 4


def test_at_once_is_a_thread_per_call_without_a_bound() -> None:
    cloud = cloud_with(servers=12, ports=3, delay=0.05)
    # every call waits until all 13 are in flight (a bounded pool would break the barrier)
    together = threading.Barrier(13, timeout=10)
    cloud.gates = {"force_down": together.wait, "reset_server_error": together.wait}
    _round(cloud, concurrency=4, strategy="at_once")
    assert cloud.max_in_flight == 13  # the force-down and the 12 resets together
    assert not together.broken
    ports = cloud.calls_named("set_port_down")
    assert min(p.started for p in ports) >= max(r.ended for r in cloud.action_calls()
                                                if r.name != "set_port_down")


def test_a_hung_force_down_holds_the_resets_back_for_a_bounded_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from doctor_tests.inspector import core

    monkeypatch.setattr(core, "SERVICE_WAIT_S", 0.1)
    cloud = cloud_with(servers=150, ports=1, delay=0.02)
    cloud.delays["force_down"] = 1.5
    _round(cloud, concurrency=8)
    [down] = cloud.calls_named("force_down")
    resets = cloud.calls_named("reset_server_error")
    # two at a time for its bound, then all eight, while it still hangs
    assert _in_flight_during(resets, down.started, down.started + 0.08) == core.SERVICE_OVERLAP
    assert _in_flight_during(resets, down.started + 0.2, down.started + 0.3) == 8
    assert max(r.ended for r in resets) < down.ended


def test_unknown_strategy_and_pace_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="strategy must be one of service_first, parallel, "
                                         "at_once, not 'fast'"):
        Inspector(FakeCloud(), strategy="fast")
    with pytest.raises(ValueError, match="shortcut_pace must be >= 1, not 0"):
        Inspector(FakeCloud(), shortcut_pace=0)


def test_port_pace_bounds_the_port_updates_in_flight() -> None:
    cloud = cloud_with(servers=2, ports=12, delay=0.02)
    _round(cloud, concurrency=8, port_pace=2)
    ports = cloud.calls_named("set_port_down")
    assert len(ports) == 12 and _in_flight_during(ports, 0, float("inf")) == 2
    with pytest.raises(ValueError, match="port_pace must be >= 1, not 0"):
        Inspector(FakeCloud(), port_pace=0)


def test_host_only_forces_the_host_down_and_leaves_servers_and_ports() -> None:
    """Beside a recovery service (Masakari): the host is fenced, nothing else is touched."""
    cloud = cloud_with()
    insp = Inspector(cloud, concurrency=4, index_interval=3600, host_only=True)
    insp.start()
    try:
        record = insp.host_down("compute-1")
        assert record.wait(5) and record.to_json()["errors"] == []
        assert cloud.services["compute-1"].forced_down
        assert [c.name for c in cloud.action_calls()] == ["force_down"]
        assert "ERROR" not in cloud.server_state.values()
        assert "DOWN" not in cloud.port_status.values()
        assert record.to_json()["servers"] == [] and insp.health()["host_only"] is True
        assert insp.dataplane_down("compute-2").wait(5)
        assert "DOWN" not in cloud.port_status.values()
        assert insp.host_up("compute-1").wait(5)
        assert not cloud.services["compute-1"].forced_down
    finally:
        insp.stop()
