"""The collectd monitor for real: Debian's collectd with Doctor's plugin in a host namespace
of the test's own, heartbeats over its management link to the receiver at the runner-side
address, reports to a real inspector (HTTP; an in-memory cloud behind it).

Measured (printed, and JUnit properties): how long after the action the receiver reports
(a) the data-plane link down, (b) collectd frozen (SIGSTOP: a hang; the host still answers
ICMP), (c) the management link down. Five of each; the median is asserted under a bound
that follows from the heartbeat settings.

Run as root: ``.venv/bin/pytest tests/netns -q -s``.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

from doctor_tests.inspector import Inspector, InspectorServer
from doctor_tests.inspector.fake_backend import FakeCloud
from doctor_tests.monitor import collectd_plugin
from doctor_tests.monitor.collectd import CollectdMonitor
from doctor_tests.monitor.monitor import Monitor
from doctor_tests.paths import data_root
from doctor_tests.waiting import wait_until

NetnsHost = Any  # tests/netns/conftest.py's NetnsHost (the netns_host fixture)

COLLECTD = "/usr/sbin/collectd"
INTERVAL = 0.05
MISSES = 4
ROUNDS = 5


def render_config(tmp: Path, host: NetnsHost, receiver: str) -> Path:
    template = data_root() / "roles/doctor_collectd/templates/collectd.conf.j2"
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    text = env.from_string(template.read_text()).render(
        ansible_managed="test", doctor_collectd_host=host.name,
        doctor_collectd_receiver=receiver, doctor_collectd_interval=INTERVAL,
        doctor_collectd_management_interface="eth0", doctor_collectd_data_interface="eth1",
        doctor_collectd_source_address=host.address, doctor_collectd_module_dir=str(tmp),
        doctor_collectd_base_dir=str(tmp), doctor_collectd_pid_file=str(tmp / "collectd.pid"),
        doctor_collectd_log_file=str(tmp / "collectd.log"))
    shutil.copy(collectd_plugin.__file__, tmp / "doctor_collectd.py")
    conf = tmp / "collectd.conf"
    conf.write_text(text)
    return conf


@pytest.fixture
def parts(netns_host: NetnsHost, tmp_path: Path) -> Iterator[tuple[FakeCloud, Inspector,
                                                                    CollectdMonitor, int]]:
    if not os.access(COLLECTD, os.X_OK):
        pytest.skip("collectd is not installed (apt-get install collectd-core libyajl2)")
    cloud = FakeCloud()
    cloud.add_host(netns_host.name)
    cloud.add_server("vm-0", netns_host.name)
    cloud.add_port("port-0", netns_host.name, "vm-0")
    inspector = Inspector(cloud, concurrency=2, index_interval=3600)
    inspector.start()
    server = InspectorServer(inspector, "127.0.0.1", 0)
    server.start()
    monitor = CollectdMonitor({netns_host.name: netns_host.address}, server.url,
                              bind=netns_host.runner_address, port=0, interval=INTERVAL,
                              misses=MISSES)
    monitor.start()
    conf = render_config(tmp_path, netns_host, "%s:%d" % (netns_host.runner_address,
                                                          monitor.port))
    check = subprocess.run(["ip", "netns", "exec", netns_host.name, COLLECTD, "-t", "-C",
                            str(conf)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen(["ip", "netns", "exec", netns_host.name, COLLECTD, "-f", "-C",
                             str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert monitor.wait_alive(netns_host.name, 15), (
            "no heartbeat from collectd in %s: %s" % (netns_host.name,
                                                      (tmp_path / "collectd.log").read_text()))
        yield cloud, inspector, monitor, proc.pid  # ip netns exec execs collectd: its pid
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        monitor.stop()
        server.stop()
        inspector.stop()
        print("\ncollectd log:\n" + (tmp_path / "collectd.log").read_text()[-1500:])


def cpu_seconds(pid: int) -> float:
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_icmp_monitor_cannot_see_a_hang_and_sees_the_data_plane(netns_host) -> None:
    """What the second monitor is for: every process of the host frozen, ICMP still
    answers; the ICMP monitor on the data-plane address sees that link go down."""
    sleeper = subprocess.Popen(["ip", "netns", "exec", netns_host.name, "sleep", "600"])
    icmp = Monitor(netns_host.name, netns_host.address, None)
    data = Monitor(netns_host.name, netns_host.data_address, None, plane="dataplane")
    icmp.start()
    data.start()
    try:
        assert icmp.wait_alive(5) and data.wait_alive(5)
        pids = subprocess.run(["ip", "netns", "pids", netns_host.name], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            os.kill(int(pid), signal.SIGSTOP)
        try:
            assert icmp.wait_down(1.0) is None  # a second frozen: ICMP never missed
        finally:
            for pid in pids:
                os.kill(int(pid), signal.SIGCONT)
        times = []
        for _ in range(ROUNDS):
            started = time.time()
            netns_host.link("eth1", "down")
            event = data.wait_down(5)
            assert event is not None
            times.append(event.detected_at - started)
            netns_host.link("eth1", "up")
            assert data.wait_up(5)
        assert not icmp.is_down
        print("\nICMP monitor (10 ms, 3 misses) on the data-plane address: median %.0f ms (%s)"
              % (statistics.median(times) * 1000, ", ".join("%.0f" % (t * 1000) for t in times)))
        assert statistics.median(times) < 0.2
    finally:
        icmp.stop()
        data.stop()
        sleeper.kill()
        sleeper.wait()


def events(monitor: CollectdMonitor, host: str, kind: str) -> int:
    return len([e for e in monitor.events(host) if e.kind == kind])


def detect(monitor: CollectdMonitor, host: str, kind: str, act) -> float:
    """Do ``act``; seconds from just before it to the receiver's detection of ``kind``."""
    before = events(monitor, host, kind)
    started = time.time()
    act()
    wait_until(lambda: events(monitor, host, kind) > before, 10,
               "the receiver to see %s of %s" % (kind, host), interval=0.005)
    event = monitor.last_event(host, kind)
    assert event is not None
    return event.detected_at - started


def test_collectd_reports_the_data_plane_a_hang_and_the_management_link(
        netns_host: NetnsHost, parts, record_property) -> None:
    cloud, inspector, monitor, collectd_pid = parts
    host = netns_host.name
    cpu_start, wall_start = cpu_seconds(collectd_pid), time.monotonic()
    figures: dict[str, list[float]] = {"dataplane_down": [], "hang": [], "management_down": []}

    for _ in range(ROUNDS):  # (a) the data-plane link, reported over the management link
        figures["dataplane_down"].append(
            detect(monitor, host, "dataplane_down", lambda: netns_host.link("eth1", "down")))
        wait_until(lambda: cloud.port_status.get("port-0") == "DOWN", 5, "port-0 DOWN")
        assert not cloud.services[host].forced_down and cloud.server_state["vm-0"] == "ACTIVE"
        detect(monitor, host, "dataplane_up", lambda: netns_host.link("eth1", "up"))
        wait_until(lambda: cloud.port_status.get("port-0") == "ACTIVE", 5, "port-0 ACTIVE")

    for _ in range(ROUNDS):  # (b) collectd frozen: a hang, the host still answers ICMP
        figures["hang"].append(detect(monitor, host, "down",
                                      lambda: os.kill(collectd_pid, signal.SIGSTOP)))
        event = monitor.last_event(host, "down")
        assert event is not None and event.classified.wait(5)
        assert event.cause == "hang", event
        detect(monitor, host, "up", lambda: os.kill(collectd_pid, signal.SIGCONT))

    for _ in range(ROUNDS):  # (c) the management link: silence, and no ICMP either
        figures["management_down"].append(
            detect(monitor, host, "down", lambda: netns_host.link("eth0", "down")))
        event = monitor.last_event(host, "down")
        assert event is not None and event.classified.wait(5)
        assert event.cause == "unreachable", event
        detect(monitor, host, "up", lambda: netns_host.link("eth0", "up"))

    down_rounds = [r for r in inspector.records(host) if r.kind == "down"]
    assert len(down_rounds) == 2 * ROUNDS and all(r.monitor == "doctor-collectd-monitor"
                                                  for r in down_rounds)
    bound = INTERVAL * MISSES + 2 * INTERVAL  # silence to declare, plus a beat's jitter
    lines = []
    for name, values in figures.items():
        median = statistics.median(values)
        record_property("collectd_%s_median_ms" % name, round(median * 1000, 1))
        lines.append("%s: median %.0f ms (%s)" % (name, median * 1000,
                                                  ", ".join("%.0f" % (v * 1000) for v in values)))
        # the data plane: reported once the link has read down for the hold, at once then
        limit = monitor.dataplane_hold + 0.05 if name == "dataplane_down" else bound
        assert median < limit, (name, values)
    cpu = (cpu_seconds(collectd_pid) - cpu_start) / (time.monotonic() - wall_start)
    record_property("collectd_cpu_percent", round(cpu * 100, 2))
    print("\ncollectd monitor detection, %d each (heartbeat %.0f ms, down after %d misses):\n  %s"
          "\n  collectd's CPU meanwhile: %.2f %% of a core"
          % (ROUNDS, INTERVAL * 1000, MISSES, "\n  ".join(lines), cpu * 100))
    assert monitor.rejected == 0 and not monitor.unknown_hosts
