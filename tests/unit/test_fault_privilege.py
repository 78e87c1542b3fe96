"""The fault's privilege check and read-back, with the real host-side script run by a
local shell whose ``ip`` and ``sudo`` are small stand-ins (no link of this machine is
touched)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from doctor_tests.fault import FaultFailed, LinkFault, SshTarget, root_prefix
from doctor_tests.waiting import wait_until

FAKE_IP = r"""#!/bin/sh
# ip stand-in: one device, eth7, carrying 10.213.0.77; its state in $FAKE_DIR/state
state="$FAKE_DIR/state"; [ -e "$state" ] || echo UP > "$state"
noperm() { echo "RTNETLINK answers: Operation not permitted" >&2; exit 2; }
case "$*" in
  "-o -4 addr show") echo "2: eth7    inet 10.213.0.77/24 scope global eth7";;
  "link set dev eth7 up") [ -n "$FAKE_NOPERM" ] && noperm
                          echo UP > "$state"; echo up >> "$FAKE_DIR/calls";;
  "link set dev eth7 down") [ -n "$FAKE_NOPERM" ] && noperm
                            [ -z "$FAKE_IGNORE_DOWN" ] && echo DOWN > "$state"
                            echo down >> "$FAKE_DIR/calls";;
  "-o link show dev eth7") if [ "$(cat "$state")" = UP ]; then
        echo "2: eth7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP"
      else echo "2: eth7: <BROADCAST,MULTICAST> mtu 1500 state DOWN"; fi;;
  *) echo "fake ip: $*" >&2; exit 1;;
esac
"""
FAKE_SUDO = r"""#!/bin/sh
# sudo stand-in: -n, then the command; $FAKE_NOSUDO says the user has no rights
[ "$1" = "-n" ] && shift
[ -n "$FAKE_NOSUDO" ] && { echo "sudo: a password is required" >&2; exit 1; }
exec "$@"
"""


class LocalShell:
    """HostShell's interface, running the command here with the stand-ins first on PATH."""

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
def host(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("ip", FAKE_IP), ("sudo", FAKE_SUDO)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {"PATH": "%s:%s" % (bin_dir, os.environ["PATH"]), "FAKE_DIR": str(tmp_path)}

    def make(user: str = "stack", duration_s: float = 0.2, **flags: str) -> LinkFault:
        env.update(flags)
        target = SshTarget("compute-7", "10.213.0.77", user, tmp_path / "key",
                           tmp_path / "known_hosts")
        fault = LinkFault(target, duration_s, lambda: None,
                          shell_factory=lambda t: LocalShell(env))
        fault.wait_reachable = lambda timeout: None  # type: ignore[method-assign]
        return fault

    return make


def calls(tmp_path: Path) -> list[str]:
    path = tmp_path / "calls"
    return path.read_text().split() if path.exists() else []


def test_root_needs_no_sudo_and_others_use_it_non_interactively() -> None:
    assert root_prefix("root") == "" and root_prefix("stack") == "sudo -n "


def test_a_user_without_sudo_rights_fails_at_injection_naming_host_and_command(
        host, tmp_path: Path) -> None:
    fault = host("stack", FAKE_NOSUDO="1")
    with pytest.raises(FaultFailed) as err:
        fault.inject()
    text = str(err.value)
    assert "compute-7 (10.213.0.77)" in text and "sudo -n ip link set dev" in text
    assert "a password is required" in text and "exited 5" in text
    assert calls(tmp_path) == [] and not fault.injected  # nothing was changed


def test_root_without_the_capability_fails_at_injection_too(host, tmp_path: Path) -> None:
    fault = host("root", FAKE_NOPERM="1")
    with pytest.raises(FaultFailed, match="Operation not permitted") as err:
        fault.inject()
    assert "sudo" not in err.value.command.split("(")[0]
    assert calls(tmp_path) == []


def test_the_link_goes_down_and_t00_is_read_back(host, tmp_path: Path) -> None:
    fault = host("stack")
    fault.inject()
    assert fault.injected and fault.host_pid.isdigit()
    wait_until(lambda: calls(tmp_path)[-1:] == ["up"] and len(calls(tmp_path)) == 3, 10,
               "the host-side script to take the link down and up again", interval=0.05)
    assert calls(tmp_path) == ["up", "down", "up"]  # the check, the fault, the restore
    t00 = fault.fault_time(5)
    assert t00 > 0


def test_a_link_that_did_not_go_down_is_an_error_after_the_fault(host, tmp_path: Path) -> None:
    fault = host("stack", FAKE_IGNORE_DOWN="1")
    fault.inject()
    wait_until(lambda: len(calls(tmp_path)) == 3, 10, "the host-side script to end",
               interval=0.05)
    with pytest.raises(FaultFailed, match="still read UP") as err:
        fault.fault_time(5)
    assert "compute-7" in str(err.value) and "sudo -n ip link set dev" in str(err.value)


def _group_alive(pid: str) -> bool:
    try:
        os.killpg(int(pid), 0)
    except ProcessLookupError:
        return False
    return True


def test_the_script_is_ended_early_by_a_posix_shell(host, tmp_path: Path, caplog) -> None:
    """end_script's kill runs in the node user's login shell, often dash (``sh`` here):
    the script's whole process group ends before its own link-up."""
    fault = host("stack", duration_s=60.0)
    fault.inject()
    wait_until(lambda: calls(tmp_path) == ["up", "down"], 10, "the link down", interval=0.05)
    caplog.set_level("INFO", logger="doctor_tests.fault")
    fault.end_script()
    wait_until(lambda: not _group_alive(fault.host_pid), 5, "the script's group gone",
               interval=0.05)
    assert "ended" in caplog.text and "may still run" not in caplog.text
    assert calls(tmp_path) == ["up", "down"]  # its own link-up never came
    caplog.clear()
    fault.end_script()  # nothing left: said so, not a failure
    assert "had already ended" in caplog.text
