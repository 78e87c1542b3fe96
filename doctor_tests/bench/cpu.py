"""CPU time by component on this machine, read from /proc (the lab runs here).

The benchmark snapshots every process's user+system time before and after a step and
reports the difference per component (nova-api, nova-conductor, ceilometer, aodh,
MariaDB, RabbitMQ, Doctor's own process...). On two cores the fault path is a contest
for CPU: these figures say which part to make cheaper, per server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")

_GUNICORN = re.compile(r"--name doctor-lab-(\w+)|\[doctor-lab-(\w+)\]")
# (substring of the command line, component), first match wins
_COMMANDS: tuple[tuple[str, str], ...] = (
    ("nova-compute", "nova-compute"),
    ("nova-conductor", "nova-conductor"),
    ("nova-scheduler", "nova-scheduler"),
    ("ceilometer-agent-notification", "ceilometer-notification"),
    ("ceilometer-polling", "ceilometer-polling"),
    ("aodh-listener", "aodh-listener"),
    ("aodh-notifier", "aodh-notifier"),
    ("aodh-evaluator", "aodh-evaluator"),
    ("mariadbd", "mariadb"),
    ("mysqld", "mariadb"),
    ("beam.smp", "rabbitmq"),
    ("sshd", "sshd"),
    ("supervisord", "supervisord"),
)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def component_of(pid: int, own_pid: int | None = None) -> str | None:
    """The lab component a process belongs to, or None for anything else."""
    if pid == (own_pid if own_pid is not None else os.getpid()):
        return "doctor"
    cmdline = _read(PROC / str(pid) / "cmdline").replace(b"\0", b" ").decode("utf-8", "replace")
    # gunicorn (with setproctitle) shows "gunicorn: worker [doctor-lab-nova]"
    match = _GUNICORN.search(cmdline)
    if match:
        return (match.group(1) or match.group(2)) + "-api"
    for needle, name in _COMMANDS:
        if needle in cmdline:
            return name
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (all its threads), None if it is gone."""
    stat = _read(PROC / str(pid) / "stat").decode("ascii", "replace")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / TICKS


def snapshot(own_pid: int | None = None) -> dict[int, tuple[str, float]]:
    """{pid: (component, CPU seconds)} for every lab process now."""
    out: dict[int, tuple[str, float]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        name = component_of(pid, own_pid)
        if name is None:
            continue
        seconds = cpu_seconds(pid)
        if seconds is not None:
            out[pid] = (name, seconds)
    return out


def difference(before: Mapping[int, tuple[str, float]],
               after: Mapping[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds spent per component between two snapshots (processes started in
    between count from zero; those that ended are lost), largest first."""
    spent: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        start = before.get(pid)
        base = start[1] if start is not None and start[0] == name else 0.0
        spent[name] = spent.get(name, 0.0) + max(0.0, seconds - base)
    return dict(sorted(spent.items(), key=lambda kv: -kv[1]))
