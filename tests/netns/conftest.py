"""Real tests in network namespaces of their own, made by the lab's own scripts.

``lab-net.sh`` and ``lab-console.sh`` are rendered from the lab's templates with the tests'
own names and subnets (DOCTOR_NETNS_PREFIX, default ``dtn``: bridges ``dtn0``/``dtn1``,
10.250.10.0/24 and 10.250.11.0/24, hosts ``dtn-h0``, ``dtn-h1``), never the lab's, and
removed afterwards with ``lab-net.sh down``. Root only.

``lab_hosts`` adds what a lab compute host has: an sshd in each host's namespace (a login
user of the tests' own with passwordless sudo, and one without sudo; host keys checked), a
stand-in compute agent (a process named ``nova-compute``), both run by a supervisord of the
tests' own, as the lab's supervisor runs them. A decoy ``nova-compute`` runs outside every
host's namespace: what a fault does to one host must not touch it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pytest

from doctor_tests.fault import SshTarget
from doctor_tests.paths import data_root
from doctor_tests.waiting import wait_until

PREFIX = os.environ.get("DOCTOR_NETNS_PREFIX", "dtn")
USER, NOSUDO = "%s-stack" % PREFIX, "%s-nosudo" % PREFIX
SUDOERS = Path("/etc/sudoers.d/%s-test" % PREFIX)


class CommandFailed(AssertionError):
    pass


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise CommandFailed("%s exited %d: %s" % (" ".join(argv), res.returncode,
                                                  (res.stderr + res.stdout).strip()))
    return res


@dataclass(frozen=True)
class NetnsHost:
    """A host namespace: eth0 on the management bridge, eth1 on the data-plane bridge."""

    name: str
    address: str
    runner_address: str
    data_address: str
    runner_data_address: str

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.name, *argv, check=check)

    def link(self, dev: str, state: str) -> None:
        sh("ip", "-n", self.name, "link", "set", "dev", dev, state)

    def link_up(self, dev: str) -> bool:
        return ",UP" in sh("ip", "-n", self.name, "-o", "link", "show", dev).stdout


@dataclass
class LabNet:
    lab_dir: Path
    hosts: list[NetnsHost]
    ctl: str = ""  # the supervisorctl command lab-console.sh is rendered with
    targets: dict[str, SshTarget] = field(default_factory=dict)

    def script(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh(str(self.lab_dir / "bin" / name), *args, check=check)


def render(lab_dir: Path, count: int, ctl: str) -> list[NetnsHost]:
    hosts = [NetnsHost("%s-h%d" % (PREFIX, i), "10.250.10.%d" % (10 + i), "10.250.10.1",
                       "10.250.11.%d" % (10 + i), "10.250.11.1") for i in range(count)]
    computes = [{"name": h.name, "address": h.address, "veth": "%s-c%d" % (PREFIX, i),
                 "dataplane_address": h.data_address, "dataplane_veth": "%s-d%d" % (PREFIX, i)}
                for i, h in enumerate(hosts)]
    values = dict(ansible_managed="tests/netns", lab_bridge=PREFIX + "0",
                  lab_runner_address="10.250.10.1", lab_prefix_len="24",
                  lab_dataplane_bridge=PREFIX + "1", lab_runner_dataplane_address="10.250.11.1",
                  lab_dataplane_prefix_len="24",
                  lab_controller={"name": PREFIX + "-ctl0", "address": "10.250.10.2",
                                  "veth": PREFIX + "-ctl0"},
                  lab_computes=computes, lab_compute_prefix=PREFIX + "-h", lab_dir=str(lab_dir),
                  lab_supervisorctl=ctl)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    (lab_dir / "bin").mkdir(parents=True, exist_ok=True)
    for name in ("lab-net.sh", "lab-console.sh"):
        template = data_root() / "roles/lab_network/templates" / (name + ".j2")
        out = lab_dir / "bin" / name
        out.write_text(env.from_string(template.read_text()).render(**values))
        out.chmod(0o755)
    return hosts


def _needs_root() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    taken = [n for n in sh("ip", "netns", "list").stdout.split() if n.startswith(PREFIX + "-")]
    if taken:
        pytest.fail("namespaces %s exist already (an earlier run's?): remove them first"
                    % ", ".join(taken))


@pytest.fixture
def lab_net(tmp_path: Path) -> Iterator[LabNet]:
    """One compute host (and the controller's empty namespace) made by lab-net.sh up."""
    _needs_root()
    net = LabNet(tmp_path, render(tmp_path, 1, "true"))
    try:
        assert "CHANGED" in net.script("lab-net.sh", "up").stdout
        yield net
    finally:
        _down(net)


def _down(net: LabNet) -> None:
    for h in net.hosts:
        for pid in sh("ip", "netns", "pids", h.name, check=False).stdout.split():
            sh("kill", "-KILL", pid, check=False)
    net.script("lab-net.sh", "down", check=False)
    left = [n for n in sh("ip", "netns", "list").stdout.split() if n.startswith(PREFIX + "-")]
    links = [line for line in sh("ip", "-o", "link", "show").stdout.splitlines()
             if " %s" % PREFIX in line]
    assert not left and not links, ("left behind", left, links)


@pytest.fixture
def netns_host(lab_net: LabNet) -> NetnsHost:
    return lab_net.hosts[0]


SUPERVISORD_CONF = """[unix_http_server]
file = {d}/supervisor.sock
[supervisord]
pidfile = {d}/supervisord.pid
logfile = {d}/supervisord.log
nodaemon = false
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl = unix://{d}/supervisor.sock
{programs}
"""
PROGRAM = """[program:{name}]
command = {command}
autostart = true
autorestart = true
startsecs = 1
stopwaitsecs = 5
stopasgroup = true
killasgroup = true
redirect_stderr = true
stdout_logfile = {d}/{name}.out
"""


def _users(tmp: Path) -> None:
    for user in (USER, NOSUDO):
        if sh("id", user, check=False).returncode != 0:
            sh("useradd", "--create-home", "--shell", "/bin/sh", "--password", "*", user)
    SUDOERS.write_text("%s ALL=(ALL) NOPASSWD: ALL\n" % USER)
    SUDOERS.chmod(0o440)
    sh("visudo", "-cf", str(SUDOERS))


def _remove_users() -> None:
    SUDOERS.unlink(missing_ok=True)
    for user in (USER, NOSUDO):
        sh("userdel", "--remove", user, check=False)


@pytest.fixture(scope="module")
def lab_hosts() -> Iterator[LabNet]:
    """Two compute hosts, each with an sshd and a stand-in nova-compute under a supervisord
    of the tests' own; the tests' users; a decoy nova-compute outside the namespaces."""
    _needs_root()
    if not Path("/usr/sbin/sshd").exists():
        pytest.skip("no sshd (apt-get install openssh-server)")
    supervisord = Path(sys.executable).parent / "supervisord"
    if not supervisord.exists():
        pytest.skip("no supervisord in this virtualenv (pip install supervisor)")
    # sshd reads the keys as the login user: a directory every user can traverse (pytest's
    # own temporary directories are root's alone)
    tmp = Path(tempfile.mkdtemp(prefix="%s-" % PREFIX))
    tmp.chmod(0o755)
    conf = tmp / "supervisord.conf"
    ctl = "%s -c %s" % (Path(sys.executable).parent / "supervisorctl", conf)
    net = LabNet(tmp, render(tmp, 2, ctl), ctl)
    decoy = None
    _users(tmp)
    try:
        net.script("lab-net.sh", "up")
        agent = tmp / "nova-compute"  # its process name (comm) is nova-compute
        shutil.copy("/bin/sleep", agent)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "id"))
        (tmp / "authorized_keys").write_text((tmp / "id.pub").read_text())
        (tmp / "authorized_keys").chmod(0o644)
        known, programs = [], []
        for h in net.hosts:
            key = tmp / ("%s_host_key" % h.name)
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
            known.append("%s %s" % (h.address, " ".join(Path(str(key) + ".pub").read_text()
                                                          .split()[:2])))
            (tmp / ("%s_sshd_config" % h.name)).write_text(
                "ListenAddress %s\nHostKey %s\nPidFile %s/sshd-%s.pid\n"
                "AuthorizedKeysFile %s/authorized_keys\nPermitRootLogin no\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
                "StrictModes no\n" % (h.address, key, tmp, h.name, tmp))
            for name, command in (
                    ("sshd-" + h.name, "ip netns exec %s /usr/sbin/sshd -D -e -f %s/%s_sshd_config"
                     % (h.name, tmp, h.name)),
                    ("nova-compute-" + h.name, "ip netns exec %s %s 100000" % (h.name, agent))):
                programs.append((name, command))
        (tmp / "known_hosts").write_text("\n".join(known) + "\n")
        conf.write_text(SUPERVISORD_CONF.format(d=tmp, programs="[group:computes]\nprograms = %s\n"
                                                % ",".join(n for n, _ in programs) + "\n".join(
                                                    PROGRAM.format(name=n, command=c, d=tmp)
                                                    for n, c in programs)))
        sh(str(supervisord), "-c", str(conf))
        decoy = subprocess.Popen([str(agent), "100000"])
        for h in net.hosts:
            net.targets[h.name] = SshTarget(h.name, h.address, USER, tmp / "id",
                                            tmp / "known_hosts")

        def all_running() -> bool:
            out = sh(*ctl.split(), "status", check=False).stdout
            return out.count(" RUNNING ") == len(programs)

        wait_until(all_running, 30, "the hosts' programs to run", interval=0.2)
        net.decoy_pid = decoy.pid  # type: ignore[attr-defined]
        yield net
    finally:
        sh(*ctl.split(), "shutdown", check=False)
        if decoy is not None:
            decoy.kill()
            decoy.wait()
        _down(net)
        _remove_users()
        shutil.rmtree(tmp, ignore_errors=True)
