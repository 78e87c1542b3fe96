"""CPU time by component on this machine, read with psutil (the lab runs here).

The benchmark snapshots every process's user+system time before and after a step and
reports the difference per component (nova-api, nova-conductor, ceilometer, aodh,
MariaDB, RabbitMQ, memcached, Doctor's own process...). On two cores the fault path is a
contest for CPU: these figures say which part to make cheaper, per server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import psutil

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
    # the peers (roles/lab_peers; vitrage-api is gunicorn's, named above)
    ("vitrage-graph", "vitrage-graph"),
    ("vitrage-notifier", "vitrage-notifier"),
    ("vitrage-persistor", "vitrage-persistor"),
    ("masakari-api", "masakari-api"),
    ("masakari-engine", "masakari-engine"),
    ("mariadbd", "mariadb"),
    ("mysqld", "mariadb"),
    ("beam.smp", "rabbitmq"),
    ("/usr/bin/memcached", "memcached"),
    ("sshd", "sshd"),
    ("supervisord", "supervisord"),
)


def _component(pid: int, cmdline: Sequence[str] | None, own_pid: int | None) -> str | None:
    if pid == (own_pid if own_pid is not None else os.getpid()):
        return "doctor"
    text = " ".join(cmdline or ())
    # gunicorn (with setproctitle) shows "gunicorn: worker [doctor-lab-nova]"
    match = _GUNICORN.search(text)
    if match:
        return (match.group(1) or match.group(2)) + "-api"
    for needle, name in _COMMANDS:
        if needle in text:
            return name
    return None


def component_of(pid: int, own_pid: int | None = None) -> str | None:
    """The lab component a process belongs to, or None for anything else."""
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.Error:  # gone, or not ours to read
        cmdline = []
    return _component(pid, cmdline, own_pid)


def _seconds(times: Any) -> float:
    return float(times.user + times.system)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (all its threads), None if it is gone."""
    try:
        return _seconds(psutil.Process(pid).cpu_times())
    except psutil.Error:
        return None


def snapshot(own_pid: int | None = None) -> dict[int, tuple[str, float]]:
    """{pid: (component, CPU seconds)} for every lab process now."""
    out: dict[int, tuple[str, float]] = {}
    # Command lines of all, CPU times of the lab's only: 13 ms of CPU per snapshot of 170
    # processes (the hand-written /proc walk took 8 ms; asking psutil for both at once, 19).
    for proc in psutil.process_iter(["cmdline"]):
        name = _component(proc.pid, proc.info["cmdline"], own_pid)
        if name is None:
            continue
        try:
            out[proc.pid] = (name, _seconds(proc.cpu_times()))
        except psutil.Error:  # ended meanwhile
            continue
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
