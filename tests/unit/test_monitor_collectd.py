"""The collectd monitor's parts off the host: the plugin's pure logic (its configuration,
link states from a sysfs tree, heartbeats sent over loopback UDP), the heartbeat state
machine on a fake clock, the receiver over loopback UDP, MONITOR_TYPE and the registry.
tests/netns runs the plugin inside Debian's collectd on a namespace host."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from doctor_tests.config import ConfigError, Settings, load_settings
from doctor_tests.monitor import collectd_plugin as plugin
from doctor_tests.monitor.collectd import CollectdMonitor
from doctor_tests.monitor.heartbeat import (
    BadHeartbeat,
    Heartbeat,
    HeartbeatTracker,
    parse_heartbeat,
)
from doctor_tests.monitor.monitor import MonitorConfigError
from doctor_tests.monitor.registry import MONITORS, make_monitors
from doctor_tests.waiting import wait_until

CONF = [("Host", ["compute-0"]), ("Receiver", ["127.0.0.1:12350"]), ("Interval", [0.05]),
        ("ManagementInterface", ["eth0"]), ("DataInterface", ["eth1"])]


# -- the plugin ------------------------------------------------------------------------------
def test_the_plugin_reads_its_configuration_and_names_a_bad_key() -> None:
    config = plugin.parse_config(CONF)
    assert config.receiver == ("127.0.0.1", 12350) and config.interval == 0.05
    assert config.interfaces == {"management": "eth0", "data": "eth1"}
    with pytest.raises(plugin.PluginConfigError, match="Receiver must be ADDRESS:PORT"):
        plugin.parse_config([*CONF[:1], ("Receiver", ["nowhere"]), *CONF[2:]])
    with pytest.raises(plugin.PluginConfigError, match="unknown key.*colour"):
        plugin.parse_config([*CONF, ("Colour", ["red"])])
    with pytest.raises(plugin.PluginConfigError, match="Interval must be at least"):
        plugin.parse_config([*CONF[:2], ("Interval", [0.0]), *CONF[3:]])
    with pytest.raises(plugin.PluginConfigError, match="managementinterface is required"):
        plugin.parse_config(CONF[:3])


def sysfs(tmp_path: Path, dev: str, flags: str, carrier: str | None) -> None:
    (tmp_path / dev).mkdir()
    (tmp_path / dev / "flags").write_text(flags + "\n")
    if carrier is not None:
        (tmp_path / dev / "carrier").write_text(carrier + "\n")


def test_link_state_reads_the_up_flag_and_the_carrier(tmp_path: Path) -> None:
    sysfs(tmp_path, "eth0", "0x1003", "1")
    sysfs(tmp_path, "eth1", "0x1002", None)  # administratively down: no carrier to read
    sysfs(tmp_path, "eth2", "0x1003", "0")  # up, its peer down
    assert [plugin.link_state(d, tmp_path) for d in ("eth0", "eth1", "eth2", "eth9")] == [
        "up", "down", "down", "absent"]


def test_beats_and_link_notifications_reach_a_receiver_as_heartbeats() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    port = receiver.getsockname()[1]
    links = {"eth0": "up", "eth1": "up"}
    config = plugin.parse_config([*CONF[:1], ("Receiver", ["127.0.0.1:%d" % port]), *CONF[2:]])
    p = plugin.DoctorPlugin(config, read_link=links.__getitem__, clock=lambda: 1700000000.5)
    p.open()
    try:
        assert p.beat("start")
        links["eth1"] = "down"
        assert p.notified("connectivity", "eth1", plugin.NOTIF_FAILURE)
        assert not p.notified("connectivity", "eth7", plugin.NOTIF_FAILURE)  # not ours
        assert not p.notified("cpu", "eth1", plugin.NOTIF_FAILURE)
        beats = [parse_heartbeat(json.loads(receiver.recv(4096))) for _ in range(2)]
    finally:
        p.close()
        receiver.close()
    assert [(b.seq, b.reason, b.links) for b in beats] == [
        (1, "start", {"management": "up", "data": "up"}),
        (2, "link", {"management": "up", "data": "down"})]
    assert beats[0].host == "compute-0" and beats[0].sent_at == 1700000000.5
    assert beats[0].boot == beats[1].boot == p.boot


# -- the heartbeat state machine --------------------------------------------------------------
def beat(data: str = "up", boot: str = "b1") -> Heartbeat:
    return Heartbeat("compute-0", boot, 1, 0.0, {"management": "up", "data": data})


def test_silence_past_the_timeout_is_down_once_and_a_beat_is_up() -> None:
    t = HeartbeatTracker(timeout=0.2)
    assert t.expire(100.0) == []  # never heard: not down
    assert t.heartbeat(beat(), 0.0) == [] and t.deadline() == pytest.approx(0.2)
    assert t.expire(0.19) == []
    (down,) = t.expire(0.25)
    assert down.kind == "down" and down.silent_s == pytest.approx(0.25)
    assert t.expire(5.0) == []  # said once
    (up,) = t.heartbeat(beat(boot="b2"), 6.0)  # collectd restarted: a new boot
    assert up.kind == "up" and t.boots == ["b1", "b2"]


def test_the_data_plane_link_state_in_the_beats_makes_its_own_transitions() -> None:
    t = HeartbeatTracker(timeout=0.2)  # no hold: the first "down" is reported
    t.heartbeat(beat(), 0.0)
    assert [c.kind for c in t.heartbeat(beat("down"), 0.05)] == ["dataplane_down"]
    assert t.heartbeat(beat("down"), 0.1) == []
    assert [c.kind for c in t.heartbeat(beat("up"), 0.15)] == ["dataplane_up"]


def test_a_data_plane_link_down_for_less_than_the_hold_reports_nothing() -> None:
    t = HeartbeatTracker(timeout=0.2, dataplane_hold=0.1)
    t.heartbeat(beat(), 0.0)
    # a flap: down for 10 ms, several times
    for start in (0.3, 0.6, 0.9):
        assert t.heartbeat(beat("down"), start) == []
        assert t.deadline() == pytest.approx(start + 0.1)
        assert t.heartbeat(beat("up"), start + 0.01) == []
        assert t.expire(start + 0.15) == []
    # down for longer: reported when the hold is over, with nothing more heard
    t.heartbeat(beat("down"), 1.2)
    assert t.expire(1.25) == []
    (change,) = t.expire(1.3)
    assert change.kind == "dataplane_down" and change.last_seen == pytest.approx(1.2)
    assert t.heartbeat(beat("down"), 1.35) == []  # said once
    assert [c.kind for c in t.heartbeat(beat("up"), 1.4)] == ["dataplane_up"]
    with pytest.raises(ValueError, match="dataplane_hold"):
        HeartbeatTracker(timeout=0.2, dataplane_hold=-1)


def test_a_datagram_that_is_not_a_heartbeat_is_refused() -> None:
    for doc, why in (([], "not an object"), ({"v": 2}, "protocol version"),
                     ({"v": 1, "host": "", "boot": "b", "seq": 1, "time": 1, "links": {}},
                      "host"),
                     ({"v": 1, "host": "h", "boot": "b", "seq": 1, "time": 1,
                       "links": {"data": "sideways"}}, "links")):
        with pytest.raises(BadHeartbeat, match=why):
            parse_heartbeat(doc)


# -- the receiver ---------------------------------------------------------------------------
def send(port: int, **doc: object) -> None:
    body = {"v": 1, "host": "compute-0", "boot": "b", "seq": 1, "time": 1.0,
            "links": {"management": "up", "data": "up"}, **doc}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(json.dumps(body).encode(), ("127.0.0.1", port))


def test_the_receiver_declares_a_silent_host_down_and_counts_what_is_not_a_heartbeat() -> None:
    monitor = CollectdMonitor({"compute-0": ""}, None, bind="127.0.0.1", port=0,
                              interval=0.02, misses=3, classify=False)
    monitor.start()
    try:
        send(monitor.port)
        assert monitor.wait_alive("compute-0", 5)
        send(monitor.port, links={"management": "up", "data": "down"})
        assert monitor.wait_dataplane_down("compute-0", 5) is not None
        event = monitor.wait_down("compute-0", 5)  # nothing more comes
        assert event is not None and event.hostname == "compute-0"
        assert event.consecutive_misses >= 3
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"not json", ("127.0.0.1", monitor.port))
        send(monitor.port, host="compute-9")
        send(monitor.port)
        assert monitor.wait_up("compute-0", 5)
        wait_until(lambda: monitor.rejected == 1 and monitor.unknown_hosts == {"compute-9": 1},
                   5, "the bad datagrams counted", interval=0.01)
        kinds = [e.kind for e in monitor.events("compute-0")]
        assert kinds[:3] == ["dataplane_down", "down", "up"]
    finally:
        monitor.stop()
    with pytest.raises(MonitorConfigError, match="does not watch 'compute-1'"):
        monitor.wait_alive("compute-1", 0)


# -- MONITOR_TYPE and the registry ---------------------------------------------------------------
def test_monitor_type_takes_upstreams_names_one_or_both() -> None:
    assert load_settings(env={}).monitor_type == ("sample",)
    assert load_settings(env={"MONITOR_TYPE": "collectd,sample"}).monitor_type == (
        "collectd", "sample")
    for bad in ("nagios", "sample,sample", "sample,"):
        with pytest.raises(ConfigError, match=r"MONITOR_TYPE \(--monitor-type\).*allowed: "
                                              "sample, collectd"):
            load_settings(env={"MONITOR_TYPE": bad})


def test_the_registry_builds_each_monitor_and_names_the_valid_ones() -> None:
    assert list(MONITORS) == ["sample", "collectd"]
    url = "http://127.0.0.1:1"
    with pytest.raises(MonitorConfigError, match="valid: sample, collectd"):
        make_monitors("nagios", Settings(), {"h": ("10.0.0.1", "")}, url)
    hosts = {"h": ("10.0.0.1", "10.1.0.1"), "g": ("10.0.0.2", "")}
    sample = make_monitors("sample", Settings(), hosts, url)
    assert sample["h"].data_plane.plane == "dataplane"  # type: ignore[attr-defined]
    assert sample["g"].data_plane is None  # type: ignore[attr-defined]
    collectd = make_monitors("collectd", Settings(), hosts, url)
    # one receiver, one UDP port, for every host
    assert collectd["h"].receiver is collectd["g"].receiver  # type: ignore[attr-defined]
    assert collectd["h"].receiver.port == 12350  # type: ignore[attr-defined]
