"""Faults made on the host itself, over SSH (host keys verified), with sudo for what needs root.

As :class:`doctor_tests.fault.LinkFault` does for one link: before anything changes, the
same command is tried in a form that changes nothing (``ip link set dev X up`` on a link
that is up, ``kill -0`` on the agent), so a user without the right fails at injection,
naming the host, the command, its exit status and stderr; the host records the moment of
the change (T00, by its clock) and the change's result, which the runner reads back.

- :class:`LinksFault`: some links of the host (found by the addresses they carry) down for
  a duration, then up again by the host itself; ``cycles > 1`` makes a flap; ``start_at``
  makes several hosts act at the same moment (by their clocks).
- :class:`AgentFault`: the compute agent (nova-compute) killed; only the processes of the
  host's own network namespace (on the lab, hosts share a process table); the layout's
  start command brings it back.
"""

from __future__ import annotations

import logging
import shlex
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from doctor_tests.fault import (
    PRIVILEGE_CHECK_FAILED,
    FaultFailed,
    HostShell,
    SshTarget,
    end_script,
    link_flags,
    root_prefix,
    wait_ssh,
)
from doctor_tests.waiting import WaitTimeout, wait_until

LOG = logging.getLogger(__name__)

NO_DEVICE = 3


def links_script(fault_id: str, addresses: Sequence[str], down_s: float, sudo: str,
                 cycles: int = 1, up_s: float = 0.0, start_at: float | None = None) -> str:
    """The host-side command: find the device of each address, the privilege check on each
    (changes nothing), print the devices, then in the background (its pid printed on the
    next line): wait for ``start_at``, T00,
    every device down (status, stderr and each link's state right after recorded), hold
    ``down_s``, every device up; ``cycles`` times, ``up_s`` apart."""
    state = "/tmp/doctor-fault-%s" % fault_id
    body = "\n".join((
        "devs=$(cat %(state)s.dev)",
        "if [ -n %(start)s ]; then",
        "  w=$(awk -v t=%(start)s -v n=\"$(date +%%s.%%N)\" "
        "'BEGIN { w = t - n; if (w > 0) printf \"%%.3f\", w; else print 0 }')",
        "  sleep \"$w\"",
        "fi",
        "date +%%s.%%N > %(state)s.time",
        "rc=0; : > %(state)s.err; : > %(state)s.link; i=0",
        "while [ $i -lt %(cycles)d ]; do",
        "  for d in $devs; do %(sudo)sip link set dev \"$d\" down 2>> %(state)s.err || rc=$?; done",
        "  if [ $i -eq 0 ]; then",
        "    for d in $devs; do ip -o link show dev \"$d\" >> %(state)s.link 2>&1; done",
        "    echo $rc > %(state)s.rc",
        "  fi",
        "  sleep %(down).3f",
        "  for d in $devs; do %(sudo)sip link set dev \"$d\" up; done",
        "  i=$((i + 1))",
        "  if [ $i -lt %(cycles)d ]; then sleep %(up).3f; fi",
        "done",
        "date +%%s.%%N > %(state)s.up",
    )) % {"state": state, "start": shlex.quote("%.6f" % start_at if start_at else ""),
          "cycles": cycles, "sudo": sudo, "down": down_s, "up": up_s}
    find = " ".join(
        "d=$(ip -o -4 addr show | awk -v a=%(a)s '{split($4, p, \"/\")} p[1] == a {print $2}');"
        " [ -n \"$d\" ] || { echo 'no device carries %(a)s' >&2; exit %(nodev)d; };"
        " devs=\"$devs $d\";" % {"a": shlex.quote(a), "nodev": NO_DEVICE} for a in addresses)
    return (
        "devs=''; %(find)s echo $devs > %(state)s.dev;"
        " for d in $devs; do %(sudo)sip link set dev \"$d\" up 2> %(state)s.check"
        " || { cat %(state)s.check >&2; exit %(check)d; }; done;"
        " cat > %(state)s.sh <<'DOCTOR_FAULT_EOF'\n%(body)s\nDOCTOR_FAULT_EOF\n"
        "echo $devs; nohup setsid sh %(state)s.sh > /dev/null 2>&1 < /dev/null & echo $!"
    ) % {"find": find, "state": state, "sudo": sudo, "check": PRIVILEGE_CHECK_FAILED,
         "body": body}


def read_back_command(fault_id: str) -> str:
    """Print the host's record of a links fault (one ``name=value`` line each) and remove it."""
    state = "/tmp/doctor-fault-%s" % fault_id
    return ("for f in time rc link err dev; do printf '%%s=' $f; tr '\\n' '|' < %(s)s.$f"
            " 2>/dev/null; echo; done; rm -f %(s)s.time %(s)s.rc %(s)s.link %(s)s.err %(s)s.dev"
            " %(s)s.check %(s)s.up %(s)s.sh" % {"s": state})


def check_record(record: dict[str, str], host: str, address: str, command: str) -> float:
    """T00 from the host's record; :class:`FaultFailed` when a link did not go down."""
    rc, err = record.get("rc", "").strip("| "), record.get("err", "").replace("|", " ").strip()
    if rc != "0":
        raise FaultFailed(host, address, command, rc or "?", err)
    for line in (x for x in record.get("link", "").split("|") if x.strip()):
        if "UP" in link_flags(line):
            raise FaultFailed(host, address, command, rc,
                              "a link still read UP right after it: %s" % line.strip())
    t00 = record.get("time", "").strip("| ")
    try:
        return float(t00)
    except ValueError:
        raise FaultFailed(host, address, command, rc, "no T00 recorded (%r)" % t00) from None


def parse_record(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@dataclass
class LinksFault:
    """Links of ``target`` (those carrying ``addresses``) down for ``down_s``.

    ``restore_links`` brings them up from outside (the layout's console; None: the host
    brings its own back); ``reachable_during``: the management link stays up (only the
    data plane goes down), so SSH still reaches the host."""

    target: SshTarget
    addresses: tuple[str, ...]
    down_s: float
    restore_links: Callable[[], bool] | None = None
    cycles: int = 1
    up_s: float = 0.0
    start_at: float | None = None
    reachable_during: bool = False
    shell_factory: Callable[[SshTarget], HostShell] = HostShell
    fault_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    host_pid: str = ""
    devices: tuple[str, ...] = ()  # the host's devices of ``addresses``
    attempted: bool = False
    injected: bool = False
    restored: bool = False
    t00: float | None = None

    def __post_init__(self) -> None:
        if not self.addresses:
            raise ValueError("a links fault needs at least one address")
        if self.cycles < 1 or self.down_s <= 0:
            raise ValueError("cycles must be >= 1 and down_s > 0")

    @property
    def command(self) -> str:
        return "%sip link set dev <the devices of %s> down" % (
            root_prefix(self.target.user), ", ".join(self.addresses))

    @property
    def clock_host(self) -> str | None:
        """T00 is read by the host's own clock."""
        return self.target.host

    def inject(self) -> None:
        """Start the fault (returns at once). :class:`FaultFailed`, nothing changed, when the
        user may not take the links down or a device is not found."""
        sudo = root_prefix(self.target.user)
        shell = self.shell_factory(self.target)
        self.attempted = True
        try:
            rc, out, err = shell.run(links_script(self.fault_id, self.addresses, self.down_s,
                                                  sudo, self.cycles, self.up_s, self.start_at))
        finally:
            shell.close()
        if rc == PRIVILEGE_CHECK_FAILED:
            raise FaultFailed(self.target.host, self.target.address,
                              "%sip link set dev <the devices of %s> up (the privilege check; "
                              "the fault runs '%s')" % (sudo, ", ".join(self.addresses),
                                                        self.command), rc, err)
        if rc != 0:
            raise FaultFailed(self.target.host, self.target.address,
                              "the fault script (find the devices of %s, take them down)"
                              % ", ".join(self.addresses), rc, err or out)
        lines = out.strip().splitlines()
        self.devices = tuple(lines[0].split()) if len(lines) == 2 else ()
        self.host_pid = lines[-1].strip() if lines else ""
        self.injected = True
        LOG.info("fault %s: links of %s (%s) going down %d time(s) for %.3f s (host pid %s)",
                 self.fault_id, self.target.host, ", ".join(self.addresses), self.cycles,
                 self.down_s, self.host_pid)

    def wait_reachable(self, timeout: float) -> None:
        wait_ssh(self.target, timeout)

    def fault_time(self, timeout: float = 60.0) -> float:
        """T00 by the host's clock, read back over SSH once the host answers; checks that
        every link went down."""
        if self.t00 is None:
            self.wait_reachable(timeout)
            shell = self.shell_factory(self.target)
            try:
                record = parse_record(shell.check(read_back_command(self.fault_id)))
            finally:
                shell.close()
            self.t00 = check_record(record, self.target.host, self.target.address,
                                    self.command)
        return self.t00

    def wait_done(self, timeout: float) -> None:
        """Until the host-side script has ended (its links back up by itself)."""
        if not self.host_pid.isdigit():
            return
        shell = self.shell_factory(self.target)
        try:
            wait_until(lambda: shell.run("kill -s 0 -- -%d" % int(self.host_pid))[0] != 0,
                       timeout, "the fault script on %s to end" % self.target.host,
                       interval=0.2)
        finally:
            shell.close()

    def restore(self) -> None:
        """Every link back up (safe at any time, and twice): through the console when the
        layout has one, over SSH when the management link stayed up, else by the host after
        the fault's duration; then the host-side script ended."""
        if not self.attempted or self.restored:
            return
        by_console = self.restore_links() if self.restore_links is not None else False
        if not by_console and self.reachable_during and self.devices:
            shell = self.shell_factory(self.target)
            try:
                shell.check("for d in %s; do %sip link set dev \"$d\" up; done"
                            % (" ".join(map(shlex.quote, self.devices)),
                               root_prefix(self.target.user)))
            finally:
                shell.close()
        timeout = 30.0 if by_console or self.reachable_during else (
            self.cycles * (self.down_s + self.up_s) + 60.0)
        self.wait_reachable(timeout)
        self.end_script()
        self.restored = True

    def end_script(self) -> None:
        end_script(self.shell_factory, self.target, self.host_pid,
                   "its links come back after its cycles")


def agent_script(process: str, sudo: str) -> str:
    """The host-side command of :class:`AgentFault`: the agent's pids in this network
    namespace, the privilege check (``kill -0``), T00, ``kill -KILL``, and whether they are
    gone. Prints ``pids=``, ``time=``, ``rc=``, ``left=`` lines."""
    return (
        "self=$(%(sudo)sreadlink /proc/self/ns/net); pids='';"
        " for p in $(pgrep -x %(proc)s); do"
        " [ \"$(%(sudo)sreadlink /proc/$p/ns/net 2>/dev/null)\" = \"$self\" ] && pids=\"$pids $p\";"
        " done; echo \"pids=$pids\";"
        " [ -n \"$pids\" ] || { echo 'no %(proc)s process runs on this host' >&2;"
        " exit %(nodev)d; };"
        " %(sudo)skill -0 $pids 2> /tmp/doctor-agent-check.$$"
        " || { cat /tmp/doctor-agent-check.$$ >&2; rm -f /tmp/doctor-agent-check.$$;"
        " exit %(check)d; }; rm -f /tmp/doctor-agent-check.$$;"
        " echo \"time=$(date +%%s.%%N)\"; %(sudo)skill -KILL $pids; echo \"rc=$?\";"
        # gone (or a zombie its parent has not reaped yet) within a second
        " for _ in $(seq 50); do left='';"
        " for p in $pids; do s=$(awk '{print $3}' /proc/$p/stat 2>/dev/null);"
        " [ -n \"$s\" ] && [ \"$s\" != Z ] && left=\"$left $p\"; done;"
        " [ -z \"$left\" ] && break; sleep 0.02; done; echo \"left=$left\""
    ) % {"sudo": sudo, "proc": shlex.quote(process), "nodev": NO_DEVICE,
         "check": PRIVILEGE_CHECK_FAILED}


def agent_running_command(process: str) -> str:
    """Exit 0 when the agent runs in this host's network namespace."""
    return ("self=$(sudo -n readlink /proc/self/ns/net 2>/dev/null || readlink /proc/self/ns/net);"
            " for p in $(pgrep -x %(proc)s); do"
            " [ \"$(sudo -n readlink /proc/$p/ns/net 2>/dev/null)\" = \"$self\" ] && exit 0;"
            " done; exit 1" % {"proc": shlex.quote(process)})


@dataclass
class AgentFault:
    """The compute agent of ``target`` killed (SIGKILL); ``start_command`` (run on the host
    with sudo, ``{host}`` replaced) brings it back, where the layout names one."""

    target: SshTarget
    process: str = "nova-compute"
    start_command: str = ""
    shell_factory: Callable[[SshTarget], HostShell] = HostShell
    attempted: bool = False
    injected: bool = False
    restored: bool = False
    pids: tuple[str, ...] = ()
    t00: float | None = None

    @property
    def clock_host(self) -> str | None:
        """T00 is read by the host's own clock."""
        return self.target.host

    def inject(self) -> None:
        sudo = root_prefix(self.target.user)
        shell = self.shell_factory(self.target)
        self.attempted = True
        try:
            rc, out, err = shell.run(agent_script(self.process, sudo))
        finally:
            shell.close()
        record = parse_record(out)
        command = "%skill -KILL <the pids of %s>" % (sudo, self.process)
        if rc == PRIVILEGE_CHECK_FAILED:
            raise FaultFailed(self.target.host, self.target.address, "%skill -0 <the pids of %s>"
                              " (the privilege check; the fault runs '%s')"
                              % (sudo, self.process, command), rc, err)
        if rc != 0:
            raise FaultFailed(self.target.host, self.target.address, command, rc, err or out)
        self.pids = tuple(record.get("pids", "").split())
        if record.get("rc", "").strip() != "0":
            raise FaultFailed(self.target.host, self.target.address, command,
                              record.get("rc", "?").strip(), err)
        if record.get("left", "").strip():
            raise FaultFailed(self.target.host, self.target.address, command, 0,
                              "still running after it: %s" % record["left"].strip())
        self.t00 = float(record["time"])
        self.injected = True
        LOG.info("fault: %s on %s killed (pids %s)", self.process, self.target.host,
                 " ".join(self.pids))

    def fault_time(self, timeout: float = 60.0) -> float:
        if self.t00 is None:
            raise FaultFailed(self.target.host, self.target.address, "kill", "?",
                              "the fault was not made")
        return self.t00

    def running(self) -> bool:
        shell = self.shell_factory(self.target)
        try:
            return shell.run(agent_running_command(self.process))[0] == 0
        finally:
            shell.close()

    def restore(self, timeout: float = 60.0) -> None:
        """The agent started again (the layout's start command; without one, the host's
        init is waited for) and running."""
        if not self.attempted or self.restored:
            return
        if self.start_command:
            command = self.start_command.replace("{host}", self.target.host)
            shell = self.shell_factory(self.target)
            try:
                rc, out, err = shell.run(root_prefix(self.target.user) + command)
            finally:
                shell.close()
            if rc != 0:  # e.g. "already started": its supervisor was quicker; judged below
                LOG.info("'%s' on %s exited %d: %s", command, self.target.host, rc,
                         (err or out).strip()[:200])
        try:
            wait_until(self.running, timeout, "%s to run again on %s"
                       % (self.process, self.target.host), interval=0.5)
        except WaitTimeout as exc:
            raise FaultFailed(self.target.host, self.target.address,
                              self.start_command or "(the host's init)", "?",
                              "%s; start it by hand" % exc) from exc
        self.restored = True
