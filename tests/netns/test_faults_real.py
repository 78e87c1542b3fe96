"""Every fault of the catalogue made for real on namespace hosts of the tests' own: over SSH
to a real sshd as a user with sudo (host keys checked; the login shell is dash), or through
the lab's console script rendered for these hosts; each then undone, and the hosts checked
healthy again. Run as root: ``.venv/bin/pytest tests/netns -q -s``."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from doctor_tests.fault import FaultFailed, HostShell
from doctor_tests.faults import FaultHost, FaultOptions, make_fault
from doctor_tests.monitor.icmp import answers_echo
from doctor_tests.waiting import wait_until

LabNet = Any  # tests/netns/conftest.py's LabNet (the lab_hosts fixture)
NOSUDO = "dtn-nosudo"


def console_for(net: LabNet, log: list[tuple[str, str]]):
    """The layout's console as the lab's inventory has it: lab-net.sh up, lab-console.sh."""
    def console(action: str, host: str) -> str | None:
        log.append((action, host))
        if action == "link_up":
            return net.script("lab-net.sh", "up").stdout
        word = {"power_off": "power-off", "power_on": "power-on", "freeze": "freeze",
                "thaw": "thaw"}[action]
        return net.script("lab-console.sh", word, host).stdout
    return console


def fault_host(net: LabNet, i: int = 0) -> FaultHost:
    h = net.hosts[i]
    return FaultHost(net.targets[h.name], h.data_address)


def ssh_ok(net: LabNet, i: int = 0) -> bool:
    try:
        shell = HostShell(net.targets[net.hosts[i].name], timeout=3)
    except Exception:  # noqa: BLE001 - not answering is the answer
        return False
    try:
        return shell.run("echo ok", timeout=3)[1].strip() == "ok"
    finally:
        shell.close()


def healthy(net: LabNet) -> None:
    """Every host: both links up, ICMP on both addresses, SSH, its programs RUNNING."""
    for i, h in enumerate(net.hosts):
        wait_until(lambda h=h: h.link_up("eth0") and h.link_up("eth1"), 30,
                   "the links of %s up" % h.name, interval=0.1)
        assert answers_echo(h.address, 1.0) and answers_echo(h.data_address, 1.0), h
        wait_until(lambda i=i: ssh_ok(net, i), 30, "SSH to %s" % h.name, interval=0.2)
    status = net.script("lab-console.sh", "pids", net.hosts[0].name).stdout
    assert " T " not in status, status  # nothing left frozen
    wait_until(lambda: net.script("lab-net.sh", "status").stdout.count(" up ") >= 3, 5,
               "lab-net.sh status to read every link up")


@pytest.fixture
def net(lab_hosts: LabNet) -> LabNet:
    healthy(lab_hosts)
    yield lab_hosts
    healthy(lab_hosts)  # each fault leaves the hosts as it found them


def test_management_down_cuts_the_host_off_and_the_host_restores_itself(net: LabNet) -> None:
    h = net.hosts[0]
    fault = make_fault("management_down", [fault_host(net)], lambda a, host: None,
                       FaultOptions(duration_s=1.5))
    started = time.time()
    fault.inject()
    wait_until(lambda: not h.link_up("eth0"), 5, "eth0 down", interval=0.01)
    assert not answers_echo(h.address, 0.2) and answers_echo(h.data_address, 1.0)
    fault.restore()  # no console: the host brings its link back after the duration
    t00 = fault.fault_times()[h.name]
    assert started <= t00 <= started + 2 and h.link_up("eth0")


def test_link_down_takes_every_link_and_the_console_brings_them_back(net: LabNet) -> None:
    h, log = net.hosts[0], []
    fault = make_fault("link_down", [fault_host(net)], console_for(net, log),
                       FaultOptions(duration_s=60))
    fault.inject()
    wait_until(lambda: not h.link_up("eth0") and not h.link_up("eth1"), 5, "both links down",
               interval=0.01)
    started = time.time()
    fault.restore()
    assert time.time() - started < 10 and log == [("link_up", h.name)]  # not the 60 s
    assert fault.fault_times()[h.name] > 0


def test_data_plane_down_leaves_the_management_link_and_is_undone_over_ssh(net: LabNet) -> None:
    h = net.hosts[0]
    fault = make_fault("data_plane_down", [fault_host(net)], lambda a, host: None,
                       FaultOptions(duration_s=60))
    fault.inject()
    wait_until(lambda: not h.link_up("eth1"), 5, "eth1 down", interval=0.01)
    assert answers_echo(h.address, 1.0) and not answers_echo(h.data_address, 0.2)
    assert fault.fault_times()[h.name] > 0  # read back while the fault lasts: SSH works
    fault.restore()
    assert h.link_up("eth1")


def test_flap_takes_the_links_down_briefly_several_times(net: LabNet) -> None:
    h = net.hosts[0]
    fault = make_fault("flap", [fault_host(net)], lambda a, host: None,
                       FaultOptions(flap_cycles=4, flap_down_s=0.02, flap_up_s=0.2))
    seen_down = []
    fault.inject()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(seen_down) < 1:
        if not h.link_up("eth1"):
            seen_down.append(time.monotonic())
    fault.restore()  # the host's own restore, 4 x 0.22 s
    assert seen_down, "the links never read down"
    assert fault.fault_times()[h.name] > 0


def test_two_hosts_go_down_at_one_moment(net: LabNet) -> None:
    log: list[tuple[str, str]] = []
    fault = make_fault("two_hosts", [fault_host(net, 0), fault_host(net, 1)],
                       console_for(net, log), FaultOptions(duration_s=60,
                                                           simultaneous_lead_s=1.5))
    fault.inject()
    wait_until(lambda: not any(h.link_up("eth0") for h in net.hosts), 10, "both hosts down",
               interval=0.01)
    fault.restore()
    t0, t1 = fault.fault_times().values()
    print("\ntwo_hosts: T00 %.6f and %.6f (%.1f ms apart)" % (t0, t1, abs(t0 - t1) * 1000))
    assert abs(t0 - t1) < 0.05


def test_compute_agent_down_kills_this_hosts_agent_only(net: LabNet) -> None:
    h = net.hosts[0]
    before = net.script("lab-console.sh", "pids", h.name).stdout
    options = FaultOptions(agent_start="%s start computes:nova-compute-{host}" % net.ctl)
    fault = make_fault("compute_agent_down", [fault_host(net)], lambda a, host: None, options)
    fault.inject()
    (part,) = fault.parts
    killed = part.pids  # type: ignore[attr-defined]
    assert len(killed) == 1 and killed[0] in before
    other = net.script("lab-console.sh", "pids", net.hosts[1].name).stdout
    assert "nova-compute" in other  # the other host's agent runs on
    assert _alive(net.decoy_pid)  # and so does the one outside every host
    fault.restore()
    assert part.running()  # type: ignore[attr-defined]


def _alive(pid: int) -> bool:
    import os
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_hang_freezes_every_process_and_icmp_still_answers(net: LabNet) -> None:
    h, log = net.hosts[0], []
    fault = make_fault("hang", [fault_host(net)], console_for(net, log))
    fault.inject()
    pids = net.script("lab-console.sh", "pids", h.name).stdout.splitlines()
    assert pids and all(line.split()[1] == "T" for line in pids), pids  # all stopped
    assert answers_echo(h.address, 1.0)  # the kernel answers
    assert not ssh_ok(net)  # sshd does not
    fault.restore()
    assert log == [("freeze", h.name), ("thaw", h.name)] and ssh_ok(net)
    assert fault.fault_times()[h.name] > 0


def test_power_off_kills_every_process_and_power_on_boots_the_host(net: LabNet) -> None:
    h, log = net.hosts[0], []
    fault = make_fault("power_off", [fault_host(net)], console_for(net, log))
    started = time.time()
    fault.inject()
    assert net.script("lab-console.sh", "pids", h.name).stdout.strip() == ""  # nothing runs
    assert not h.link_up("eth0") and not h.link_up("eth1")
    status = net.script(*(["lab-net.sh", "status"])).stdout
    assert "%s %s down" % (h.name, h.address) in status
    ctl = net.ctl.split()
    import subprocess
    progs = subprocess.run(ctl + ["status"], capture_output=True, text=True).stdout
    assert all(" STOPPED " in line for line in progs.splitlines() if h.name in line), progs
    assert started <= fault.fault_times()[h.name] <= time.time()
    fault.restore()
    assert log == [("power_off", h.name), ("power_on", h.name)]


def test_a_user_without_sudo_fails_at_injection_and_nothing_changes(net: LabNet) -> None:
    h = net.hosts[0]
    target = dataclasses.replace(net.targets[h.name], user=NOSUDO)
    for name in ("link_down", "compute_agent_down"):
        fault = make_fault(name, [FaultHost(target, h.data_address)], lambda a, host: None)
        with pytest.raises(FaultFailed) as err:
            fault.inject()
        text = str(err.value)
        assert h.name in text and "sudo -n" in text and "exited 5" in text, text
        assert "password is required" in text, text
        assert h.link_up("eth0") and h.link_up("eth1")
