"""A real fault: a compute host's link taken down, on the host, reached over SSH.

The host runs a small script in the background that writes the moment it
takes the link down (T00, by the host's clock), takes it down, keeps it down
for the fault's duration and brings it up again. The runner reads that time
back over SSH once the host answers again. Host keys are always verified: an
unknown or changed key is an error that names the host.

Commands that need root go through ``sudo -n`` when the SSH user is not root (as on
DevStack, whose user is ``stack``). Before anything changes, the same command is
tried in a form that changes nothing (``ip link set dev <dev> up`` on a link that is
up needs the same privilege as taking it down), so a user without the right fails at
injection with the host, the command, its exit status and its stderr. After the
fault, the host's record of the ``down`` command (its exit status, stderr and the
link's state right after it) is read back, and a link that did not go down is an
error that says so.
"""

from __future__ import annotations

import logging
import shlex
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from doctor_tests.waiting import wait_until

LOG = logging.getLogger(__name__)


class SshError(RuntimeError):
    """SSH to a host failed; names the host, its address and why."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host, self.address, self.reason = host, address, reason
        super().__init__("SSH to %s (%s) failed: %s" % (host, address, reason))


@dataclass(frozen=True)
class SshTarget:
    host: str
    address: str
    user: str
    key_file: Path
    known_hosts: Path


class HostShell:
    """One SSH connection to a host; ``run`` a command and get (rc, stdout, stderr)."""

    def __init__(self, target: SshTarget, timeout: float = 10.0) -> None:
        self.target = target
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(target.known_hosts))
        except OSError as exc:
            raise SshError(target.host, target.address,
                           "cannot read known hosts %s: %s" % (target.known_hosts, exc)) from exc
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(target.address, username=target.user,
                           key_filename=str(target.key_file), timeout=timeout,
                           banner_timeout=timeout, auth_timeout=timeout,
                           allow_agent=False, look_for_keys=False)
        except paramiko.BadHostKeyException as exc:
            raise SshError(target.host, target.address,
                           "its host key CHANGED (not the one in %s)" % target.known_hosts) from exc
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise SshError(target.host, target.address,
                               "its host key is unknown (not in %s)" % target.known_hosts) from exc
            raise SshError(target.host, target.address, str(exc)) from exc
        except EOFError as exc:
            raise SshError(target.host, target.address,
                           "it closed the connection during the SSH handshake") from exc
        except (TimeoutError, OSError) as exc:
            raise SshError(target.host, target.address, str(exc)) from exc
        self._client = client

    def run(self, command: str, timeout: float = 30.0) -> tuple[int, str, str]:
        try:
            _, out, err = self._client.exec_command(command, timeout=timeout)
            rc = out.channel.recv_exit_status()
            return rc, out.read().decode(), err.read().decode()
        except (TimeoutError, paramiko.SSHException, OSError) as exc:
            raise SshError(self.target.host, self.target.address,
                           "running %r: %s" % (command.split()[0], exc)) from exc

    def check(self, command: str, timeout: float = 30.0) -> str:
        rc, out, err = self.run(command, timeout)
        if rc != 0:
            raise SshError(self.target.host, self.target.address,
                           "%r exited %d: %s" % (command, rc, (err or out).strip()[:300]))
        return out

    def stream(self, command: str, timeout: float = 10.0) -> tuple[Any, Any]:
        """Start ``command`` and keep its stdin and stdout open (a line-by-line dialogue
        with one remote process, e.g. reading its clock without a process per sample)."""
        try:
            stdin, stdout, _ = self._client.exec_command(command, timeout=timeout)
        except (TimeoutError, paramiko.SSHException, OSError) as exc:
            raise SshError(self.target.host, self.target.address,
                           "running %r: %s" % (command.split()[0], exc)) from exc
        return stdin, stdout

    @property
    def transport(self) -> paramiko.Transport:
        """The connection's transport (port forwarding)."""
        transport = self._client.get_transport()
        if transport is None:
            raise SshError(self.target.host, self.target.address, "the connection is closed")
        return transport

    def close(self) -> None:
        self._client.close()


class FaultFailed(SshError):
    """The fault could not be made (or did not happen): names the host, the command, its
    exit status and what it printed."""

    def __init__(self, host: str, address: str, command: str, rc: int | str,
                 stderr: str) -> None:
        self.command, self.rc, self.stderr = command, rc, stderr
        super().__init__(host, address, "the fault's command %r exited %s: %s"
                         % (command, rc, stderr.strip()[:500] or "(no output)"))


#: exit status of the host-side script when the privilege check failed
PRIVILEGE_CHECK_FAILED = 5


def root_prefix(user: str) -> str:
    """What goes before a command that needs root: nothing for root, else ``sudo -n``
    (non-interactive: a password prompt would hang the fault, so it fails at once)."""
    return "" if user == "root" else "sudo -n "


def _script(fault_id: str, address: str, duration_s: float, sudo: str = "") -> str:
    """The host-side script: the privilege check (changes nothing), then in the
    background T00 to a file, link down (its status, stderr and the link's state
    recorded), wait the fault out, link up."""
    state = "/tmp/doctor-fault-%s" % fault_id
    return (
        "dev=$(ip -o -4 addr show"
        " | awk -v a=%(addr)s '{split($4, p, \"/\")} p[1] == a {print $2}');"
        " [ -n \"$dev\" ] || { echo 'no device carries %(addr)s' >&2; exit 3; };"
        " echo \"$dev\" > %(state)s.dev;"
        " %(sudo)sip link set dev \"$dev\" up 2> %(state)s.check"
        " || { cat %(state)s.check >&2; exit %(check)d; };"
        " nohup setsid sh -c \"date +%%s.%%N > %(state)s.time;"
        " %(sudo)sip link set dev $dev down 2> %(state)s.err; echo \\$? > %(state)s.rc;"
        " ip -o link show dev $dev > %(state)s.link 2>&1;"
        " sleep %(dur)s; %(sudo)sip link set dev $dev up; date +%%s.%%N > %(state)s.up\""
        " > /dev/null 2>&1 < /dev/null & echo $!"
    ) % {"addr": shlex.quote(address), "state": state, "dur": "%.3f" % duration_s,
         "sudo": sudo, "check": PRIVILEGE_CHECK_FAILED}


def wait_ssh(target: SshTarget, timeout: float, interval: float = 0.2) -> None:
    """Wait until ``target`` answers on its SSH port again (after a fault)."""
    def answers() -> bool:
        try:
            with socket.create_connection((target.address, 22), timeout=1.0):
                return True
        except OSError:
            return False

    wait_until(answers, timeout, "%s (%s) to answer on port 22 again"
               % (target.host, target.address), interval=interval)


SCRIPT_GONE = 4  # end_command's status when the script's process group is already gone


def end_command(pid: str) -> str:
    """The command that ends the host-side script's process group (it is a session leader),
    in POSIX sh: dash, the login shell of many node users, refuses ``kill -TERM -- -PID``;
    status SCRIPT_GONE when there is nothing left to end."""
    return "kill -s 0 -- -%(pid)s 2>/dev/null || exit %(gone)d; kill -s TERM -- -%(pid)s" % {
        "pid": int(pid), "gone": SCRIPT_GONE}


def end_script(shell_factory: Callable[[SshTarget], HostShell], target: SshTarget,
               pid: str, pending: str) -> None:
    """End a host-side fault script's process group early, saying what happened; nothing
    to do when it never started (``pid`` not a number) or has ended. ``pending`` says what
    the script would still do if it could not be ended."""
    if not pid.isdigit():
        return
    shell = shell_factory(target)
    try:
        rc, _, err = shell.run(end_command(pid))
    finally:
        shell.close()
    if rc == 0:
        LOG.info("fault script %s on %s ended", pid, target.host)
    elif rc == SCRIPT_GONE:
        LOG.info("fault script %s on %s had already ended", pid, target.host)
    else:
        LOG.warning("fault script %s on %s may still run (%s): '%s' exited %s: %s", pid,
                    target.host, pending, end_command(pid), rc, err.strip()[:200])


def link_flags(ip_link_line: str) -> list[str]:
    """The flags of one ``ip -o link show`` line (``<BROADCAST,MULTICAST,UP,...>``)."""
    if "<" not in ip_link_line:
        return []
    return ip_link_line.split("<", 1)[1].split(">", 1)[0].split(",")


@dataclass
class LinkFault:
    """Takes ``target``'s link down for ``duration_s``; ``restore`` is the runner's way back."""

    target: SshTarget
    duration_s: float
    restore_link: Callable[[], None]
    fault_id: str = ""
    injected: bool = False
    host_pid: str = ""  # the host-side script (a session leader: kill -- -PID ends it early)
    restored: bool = False  # restore_link has brought the link back
    shell_factory: Callable[[SshTarget], HostShell] = HostShell

    def inject(self) -> None:
        """Start the fault (returns at once; the link goes down a moment later).

        Raises :class:`FaultFailed` (nothing changed) when the SSH user may not take the
        link down, naming the host, the command and what it said."""
        self.fault_id = uuid.uuid4().hex[:12]
        sudo = root_prefix(self.target.user)
        shell = self.shell_factory(self.target)
        try:
            rc, out, err = shell.run(_script(self.fault_id, self.target.address,
                                             self.duration_s, sudo))
        finally:
            shell.close()
        if rc == PRIVILEGE_CHECK_FAILED:
            raise FaultFailed(self.target.host, self.target.address,
                              "%sip link set dev <the device of %s> up (the privilege check; "
                              "the fault runs '%sip link set dev ... down')"
                              % (sudo, self.target.address, sudo), rc, err)
        if rc != 0:
            raise FaultFailed(self.target.host, self.target.address,
                              "the fault script (find the device of %s, take it down)"
                              % self.target.address, rc, err or out)
        pid = out.strip()
        self.injected = True
        self.host_pid = pid
        LOG.info("fault %s: link of %s (%s) going down for %.1f s (host pid %s)",
                 self.fault_id, self.target.host, self.target.address, self.duration_s, pid)

    def restore(self) -> None:
        """Bring the link back from the runner's side (safe to call at any time; once it
        has succeeded, later calls have nothing to do: the run reads T00 and its clean-up
        both ask)."""
        if self.injected and not self.restored:
            self.restore_link()
            self.restored = True

    def end_script(self) -> None:
        """End the host-side fault script early (its link-up later would cut into another
        run); nothing to do when it never started or has ended."""
        end_script(self.shell_factory, self.target, self.host_pid,
                   "its link-up comes after %.0f s" % self.duration_s)

    def wait_reachable(self, timeout: float) -> None:
        wait_ssh(self.target, timeout)

    def fault_time(self, timeout: float = 60.0) -> float:
        """T00: when the host took its link down, by the host's clock (read over SSH).

        Raises :class:`FaultFailed` when the host's record says the link did not go down
        (the ``down`` command failed, or the link still read UP right after it)."""
        self.wait_reachable(timeout)
        state = "/tmp/doctor-fault-%s" % self.fault_id
        shell = self.shell_factory(self.target)
        try:
            # one "name=value" line per record (missing ones empty), newlines folded
            out = shell.check("for f in time rc link err; do printf '%%s=' $f;"
                              " tr '\\n' ' ' < %s.$f 2>/dev/null; echo; done" % state)
            shell.run("rm -f %s.time %s.dev %s.rc %s.link %s.err %s.check %s.up"
                      % ((state,) * 7))
        finally:
            shell.close()
        record = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        t00, rc = record.get("time", "").strip(), record.get("rc", "").strip()
        link, err = record.get("link", "").strip(), record.get("err", "").strip()
        command = "%sip link set dev <the device of %s> down" % (
            root_prefix(self.target.user), self.target.address)
        if rc != "0":
            raise FaultFailed(self.target.host, self.target.address, command, rc or "?", err)
        if "UP" in link_flags(link):
            raise FaultFailed(self.target.host, self.target.address, command, rc,
                              "the link still read UP right after it: %s" % link)
        try:
            return float(t00)
        except ValueError:
            raise FaultFailed(self.target.host, self.target.address, command, rc,
                              "no T00 recorded (%r)" % t00) from None
