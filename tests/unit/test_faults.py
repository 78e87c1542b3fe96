"""The fault catalogue: the registry, each fault's expected reaction, how each is built, and
the host-side link script run by a local shell whose ``ip`` and ``sudo`` are stand-ins (no
link of this machine is touched; tests/netns runs the same on real links)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from doctor_tests.fault import FaultFailed, SshTarget
from doctor_tests.faults import (
    FAULTS,
    AgentFault,
    ConsoleFault,
    FaultHost,
    FaultOptions,
    LinksFault,
    NoConsole,
    UnknownFault,
    console_t00,
    get_fault,
    make_fault,
    sees,
)
from doctor_tests.waiting import wait_until

FAKE_IP = r"""#!/bin/sh
# ip stand-in: eth7 carries 10.0.0.7, eth8 carries 10.1.0.7; states in $FAKE_DIR/<dev>
noperm() { echo "RTNETLINK answers: Operation not permitted" >&2; exit 2; }
case "$*" in
  "-o -4 addr show") printf '%s\n' "2: eth7    inet 10.0.0.7/24 scope global eth7" \
                                  "3: eth8    inet 10.1.0.7/24 scope global eth8";;
  "link set dev "*" "*) [ -n "$FAKE_NOPERM" ] && noperm
      dev=$4; st=$5
      if [ "$st" = down ] && [ -n "$FAKE_IGNORE_DOWN" ]; then :
      else echo "$st" > "$FAKE_DIR/$dev"; fi
      echo "$dev $st $(date +%s.%N)" >> "$FAKE_DIR/calls";;
  "-o link show dev "*) dev=$5; st=$(cat "$FAKE_DIR/$dev" 2>/dev/null || echo up)
      if [ "$st" = up ]; then echo "2: $dev: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500"
      else echo "2: $dev: <BROADCAST,MULTICAST> mtu 1500 state DOWN"; fi;;
  *) echo "fake ip: $*" >&2; exit 1;;
esac
"""
FAKE_SUDO = r"""#!/bin/sh
[ "$1" = "-n" ] && shift
[ -n "$FAKE_NOSUDO" ] && { echo "sudo: a password is required" >&2; exit 1; }
exec "$@"
"""


class LocalShell:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, command: str, timeout: float = 30.0) -> tuple[int, str, str]:
        done = subprocess.run(["sh", "-c", command], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        return done.returncode, done.stdout, done.stderr

    def check(self, command: str, timeout: float = 30.0) -> str:
        rc, out, err = self.run(command, timeout)
        assert rc == 0, (command, rc, err)
        return out

    def close(self) -> None:
        pass


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("ip", FAKE_IP), ("sudo", FAKE_SUDO)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {"PATH": "%s:%s" % (bin_dir, os.environ["PATH"]), "FAKE_DIR": str(tmp_path)}


def target(user: str = "stack") -> SshTarget:
    return SshTarget("compute-7", "10.0.0.7", user, Path("/k"), Path("/kh"))


def calls(tmp_path: Path) -> list[tuple[str, str, float]]:
    path = tmp_path / "calls"
    if not path.exists():
        return []
    rows = (line.split() for line in path.read_text().splitlines())
    return [(d, s, float(t)) for d, s, t in rows]


def links_fault(env: dict[str, str], **kw) -> LinksFault:
    fault = LinksFault(kw.pop("target", target()), kw.pop("addresses", ("10.0.0.7", "10.1.0.7")),
                       kw.pop("down_s", 0.1), shell_factory=lambda t: LocalShell(env), **kw)
    fault.wait_reachable = lambda timeout: None  # type: ignore[method-assign]
    return fault


# -- the catalogue ---------------------------------------------------------------------------
def test_the_catalogue_has_the_issues_faults_and_unknown_names_list_the_valid_ones() -> None:
    assert list(FAULTS) == ["link_down", "management_down", "power_off", "hang",
                            "data_plane_down", "compute_agent_down", "flap", "two_hosts"]
    with pytest.raises(UnknownFault) as err:
        get_fault("reboot")
    assert "unknown fault 'reboot'" in str(err.value)
    assert all(name in str(err.value) for name in FAULTS)


@pytest.mark.parametrize("name", ["link_down", "management_down", "power_off", "hang",
                                  "two_hosts"])
def test_host_failures_expect_the_full_reaction(name: str) -> None:
    e = get_fault(name).expected
    assert e.host_forced_down and e.servers_error and e.ports_down and e.server_alarms


def test_a_data_plane_failure_marks_ports_only_and_the_rest_expects_nothing() -> None:
    dp = get_fault("data_plane_down").expected
    assert dp.ports_down and dp.port_alarms
    assert not (dp.host_forced_down or dp.servers_error or dp.server_alarms)
    for name in ("compute_agent_down", "flap"):
        assert not get_fault(name).expected.any_reaction and get_fault(name).detected_by == ()


def test_which_monitor_sees_what() -> None:
    assert sees("collectd", "hang") and not sees("sample", "hang")  # ICMP still answers
    assert all(sees(m, "data_plane_down") for m in ("sample", "collectd"))
    with pytest.raises(ValueError, match="valid: sample, collectd"):
        sees("nagios", "hang")


# -- building faults -------------------------------------------------------------------------
def no_console(action: str, host: str) -> None:
    return None


def test_make_fault_checks_the_host_count_and_the_data_plane_address() -> None:
    with pytest.raises(ValueError, match="two_hosts fails 2 host"):
        make_fault("two_hosts", [FaultHost(target())], no_console)
    with pytest.raises(FaultFailed, match="doctor_dataplane_address"):
        make_fault("data_plane_down", [FaultHost(target())], no_console)
    fault = make_fault("link_down", [FaultHost(target(), "10.1.0.7")], no_console)
    (part,) = fault.parts
    assert isinstance(part, LinksFault) and part.addresses == ("10.0.0.7", "10.1.0.7")
    dp = make_fault("data_plane_down", [FaultHost(target(), "10.1.0.7")], no_console)
    assert dp.parts[0].addresses == ("10.1.0.7",) and dp.parts[0].reachable_during  # type: ignore[attr-defined]


def test_two_hosts_act_at_one_moment_and_the_flap_repeats() -> None:
    other = SshTarget("compute-8", "10.0.0.8", "stack", Path("/k"), Path("/kh"))
    two = make_fault("two_hosts", [FaultHost(target(), "10.1.0.7"), FaultHost(other)],
                     no_console, FaultOptions(simultaneous_lead_s=2.0))
    a, b = two.parts
    assert isinstance(a, LinksFault) and isinstance(b, LinksFault)
    assert a.start_at == b.start_at and a.start_at is not None and a.start_at > time.time()
    flap = make_fault("flap", [FaultHost(target(), "10.1.0.7")], no_console,
                      FaultOptions(flap_cycles=4, flap_down_s=0.02))
    assert flap.parts[0].cycles == 4 and flap.parts[0].down_s == 0.02  # type: ignore[attr-defined]
    agent = make_fault("compute_agent_down", [FaultHost(target())], no_console,
                       FaultOptions(agent_start="systemctl start devstack@n-cpu"))
    assert isinstance(agent.parts[0], AgentFault)


def test_a_console_fault_without_a_console_changes_nothing_and_says_what_to_set() -> None:
    fault = make_fault("power_off", [FaultHost(target())], no_console)
    with pytest.raises(NoConsole, match="doctor_console_power_off"):
        fault.inject()
    fault.restore()  # nothing was done: nothing to undo
    part = fault.parts[0]
    assert isinstance(part, ConsoleFault) and not part.attempted


def test_a_console_fault_takes_t00_from_the_console_and_undoes_even_a_failed_do() -> None:
    done: list[tuple[str, str]] = []

    def console(action: str, host: str) -> str:
        done.append((action, host))
        if action == "freeze" and len(done) == 1:
            return "T00 1700000000.250\nfrozen 7\n"
        raise RuntimeError("the console failed")

    fault = make_fault("hang", [FaultHost(target())], console)
    fault.inject()
    assert fault.fault_times() == {"compute-7": 1700000000.25}
    with pytest.raises(RuntimeError):
        fault.restore()
    assert done == [("freeze", "compute-7"), ("thaw", "compute-7")]
    assert console_t00("frozen 3\n") is None


def test_t00_read_by_a_host_is_moved_onto_the_runners_clock_and_the_consoles_is_not() -> None:
    from doctor_tests.faults import Fault
    from doctor_tests.profiler.sources.clock import ClockOffset

    class Part:
        def __init__(self, t00: float, clock_host: str | None) -> None:
            self.t00, self.clock_host = t00, clock_host

        def inject(self) -> None: ...

        def restore(self) -> None: ...

        def fault_time(self, timeout: float = 60.0) -> float:
            return self.t00

    fault = Fault(get_fault("two_hosts"), ("compute-7", "compute-8"),
                  (Part(1700000010.0, "compute-7"), Part(1700000000.5, None)))
    skewed = {"compute-7": ClockOffset(9.5, 0.0002), "compute-8": ClockOffset(-3.0, 0.0002)}
    # compute-7's clock runs 9.5 s ahead: its T00 is 0.5 s after the epoch on the runner's;
    # the second part's T00 came from the runner (a console), whatever compute-8's offset
    assert fault.fault_times(clocks=skewed) == {"compute-7": 1700000000.5,
                                                "compute-8": 1700000000.5}
    assert fault.fault_times() == {"compute-7": 1700000010.0, "compute-8": 1700000000.5}


# -- the host-side link script --------------------------------------------------------------
def test_every_link_goes_down_then_up_and_t00_is_read_back(stand_ins, tmp_path: Path) -> None:
    fault = links_fault(stand_ins)
    fault.inject()
    wait_until(lambda: len(calls(tmp_path)) == 6, 10, "the script to end", interval=0.05)
    assert [(d, s) for d, s, _ in calls(tmp_path)] == [
        ("eth7", "up"), ("eth8", "up"),  # the privilege check
        ("eth7", "down"), ("eth8", "down"), ("eth7", "up"), ("eth8", "up")]
    t00 = fault.fault_time(5)
    assert t00 <= calls(tmp_path)[2][2]
    assert not list(tmp_path.glob("doctor-fault-*"))  # the host's record is removed


def test_without_sudo_rights_nothing_changes_and_the_error_names_host_and_command(
        stand_ins, tmp_path: Path) -> None:
    stand_ins["FAKE_NOSUDO"] = "1"
    fault = links_fault(stand_ins)
    with pytest.raises(FaultFailed) as err:
        fault.inject()
    text = str(err.value)
    assert "compute-7 (10.0.0.7)" in text and "sudo -n ip link set dev" in text
    assert "a password is required" in text and "exited 5" in text and calls(tmp_path) == []


def test_a_missing_device_is_an_error_before_anything_changes(stand_ins, tmp_path: Path) -> None:
    fault = links_fault(stand_ins, addresses=("10.0.0.7", "10.9.9.9"))
    with pytest.raises(FaultFailed, match="no device carries 10.9.9.9"):
        fault.inject()
    assert calls(tmp_path) == []


def test_a_link_that_stays_up_is_an_error_on_read_back(stand_ins, tmp_path: Path) -> None:
    stand_ins["FAKE_IGNORE_DOWN"] = "1"
    fault = links_fault(stand_ins)
    fault.inject()
    wait_until(lambda: len(calls(tmp_path)) == 6, 10, "the script to end", interval=0.05)
    with pytest.raises(FaultFailed, match="still read UP"):
        fault.fault_time(5)


def test_a_flap_cycles_and_a_scheduled_fault_waits_for_its_moment(stand_ins,
                                                                 tmp_path: Path) -> None:
    start = time.time() + 0.5
    fault = links_fault(stand_ins, addresses=("10.0.0.7",), down_s=0.02, cycles=3, up_s=0.05,
                        start_at=start)
    fault.inject()
    wait_until(lambda: len(calls(tmp_path)) == 7, 10, "three cycles", interval=0.05)
    states = [s for _, s, _ in calls(tmp_path)]
    assert states == ["up", "down", "up", "down", "up", "down", "up"]
    assert calls(tmp_path)[1][2] >= start  # the first down not before its moment
    assert fault.fault_time(5) >= start


def test_restore_over_ssh_when_the_management_link_stays_up(stand_ins, tmp_path: Path) -> None:
    fault = links_fault(stand_ins, addresses=("10.1.0.7",), down_s=60.0,
                        reachable_during=True, restore_links=lambda: False)
    fault.restore()  # before injection: nothing to undo
    fault.inject()
    wait_until(lambda: len(calls(tmp_path)) == 2, 10, "the link down", interval=0.05)
    fault.restore()
    assert [(d, s) for d, s, _ in calls(tmp_path)] == [("eth8", "up"), ("eth8", "down"),
                                                        ("eth8", "up")]
    fault.restore()  # twice is fine
    assert len(calls(tmp_path)) == 3


def test_the_settings_know_the_catalogues_faults_and_refuse_others() -> None:
    from doctor_tests.config import FAULT_NAMES, ConfigError, load_settings

    assert FAULT_NAMES == tuple(FAULTS)
    assert load_settings(env={"DOCTOR_FAULTS": "hang,flap"}).faults == ("hang", "flap")
    with pytest.raises(ConfigError, match=r"DOCTOR_FAULTS .*allowed: link_down"):
        load_settings(env={"DOCTOR_FAULTS": "reboot"})


def test_the_bench_matrix_cells_count_detections_and_false_reactions() -> None:
    from doctor_tests.bench.matrix import applies, cell, table

    assert applies("hang", "collectd") and not applies("hang", "sample")
    assert applies("flap", "sample") and applies("compute_agent_down", "collectd")
    ok = {"criteria": "PASS", "details": {"figures": {"detection_ms_collectd_h0": 200.0},
                                          "checks": [{"name": "absent: alarm for h1",
                                                      "passed": True}]}}
    bad = {"criteria": "FAIL", "details": {"figures": {},
                                           "checks": [{"name": "absent: alarm for h1",
                                                       "passed": False}]}}
    c = cell("hang", "collectd", [ok, ok, bad])
    assert (c["detected"], c["reaction_correct"], c["false_reactions"]) == (2, 2, 1)
    assert c["detection_p50_ms"] == 200.0
    quiet = cell("flap", "sample", [ok, bad])
    assert quiet["detected"] is None and quiet["quiet"] == 1
    assert "quiet 1/2" in table([quiet]) and "2/3" in table([c])


def test_the_bench_matrix_page_names_what_a_monitor_cannot_see(tmp_path: Path) -> None:
    from doctor_tests.bench.matrix import cell, main, unseen

    ok = {"criteria": "PASS", "details": {"figures": {"detection_ms_collectd_h0": 190.0}}}
    assert unseen(["hang", "link_down"], ["sample", "collectd"]) == [("hang", "sample")]
    doc = {"date": "2026-12-05", "runs": 1, "duration_s": 600.0,
           "monitors": ["sample", "collectd"],
           "machine": {"hostname": "vm", "cpus": 2, "memory_gib": 23.5, "cpu_model": "AMD EPYC"},
           "cells": [cell("hang", "collectd", [ok]), cell("link_down", "collectd", [ok])]}
    saved = tmp_path / "m.json"
    saved.write_text(json.dumps(doc))
    assert main(["--render", str(saved)]) == 0
    page = (tmp_path / "m.md").read_text()
    assert "AMD EPYC" in page and "10 min in all" in page
    lines = [line for line in page.splitlines() if line.startswith("| hang")]
    assert len(lines) == 2 and "cannot see it (not run)" in lines[1] and "sample" in lines[1]
    assert "190" in lines[0]
