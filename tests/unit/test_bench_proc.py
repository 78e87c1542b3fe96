"""The benchmark's view of this machine: CPU time per component, memory (via psutil)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from doctor_tests.bench import cpu, machine


def _spawn(*argv: str) -> subprocess.Popen[str]:
    """A Python process with ``argv`` on its command line; returns once it is running."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()", *argv],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
    return proc


@pytest.fixture
def lab_like() -> Iterator[dict[str, int]]:
    """Processes that look like lab components, and one that does not."""
    procs = {"aodh-listener": _spawn("/usr/bin/aodh-listener", "--config-file", "x"),
             "nova-api": _spawn("gunicorn", "--name", "doctor-lab-nova"),
             "aodh-api": _spawn("gunicorn:", "worker", "[doctor-lab-aodh]"),
             "vitrage-api": _spawn("gunicorn", "--name", "doctor-lab-vitrage"),
             "vitrage-graph": _spawn("/var/lib/doctor-lab/peers/vitrage/venv/bin/vitrage-graph",
                                     "--config-file", "vitrage.conf"),
             "masakari-engine": _spawn("/p/masakari/venv/bin/masakari-engine"),
             "memcached": _spawn("/usr/bin/memcached", "-u", "memcache", "-p", "11211"),
             "other": _spawn("something-else")}
    try:
        yield {name: p.pid for name, p in procs.items()}
    finally:
        for p in procs.values():
            assert p.stdin is not None
            p.stdin.close()
            p.wait(10)


def proc_status_kib(key: str, path: str = "/proc/self/status") -> int:
    value = machine.status_kib(Path(path).read_text(), key)
    assert value is not None
    return value


def test_components_from_the_command_line(lab_like: dict[str, int]) -> None:
    assert cpu.component_of(lab_like["aodh-listener"]) == "aodh-listener"
    assert cpu.component_of(lab_like["nova-api"]) == "nova-api"
    assert cpu.component_of(lab_like["aodh-api"]) == "aodh-api"
    assert cpu.component_of(lab_like["other"]) is None
    for name in ("vitrage-api", "vitrage-graph", "masakari-engine", "memcached"):
        assert cpu.component_of(lab_like[name]) == name
    assert cpu.component_of(os.getpid()) == "doctor"
    assert cpu.component_of(lab_like["other"], own_pid=lab_like["other"]) == "doctor"


def test_a_snapshot_names_every_lab_process_with_its_cpu_seconds(
        lab_like: dict[str, int]) -> None:
    snap = cpu.snapshot()
    for name in ("aodh-listener", "nova-api", "aodh-api"):
        component, seconds = snap[lab_like[name]]
        assert component == name and seconds >= 0.0
    assert lab_like["other"] not in snap
    assert snap[os.getpid()][0] == "doctor"


def test_cpu_seconds_are_user_plus_system_like_os_times() -> None:
    before = os.times()
    seconds = cpu.cpu_seconds(os.getpid())
    after = os.times()
    assert seconds is not None
    assert before.user + before.system - 0.02 <= seconds <= after.user + after.system + 0.02


def test_a_gone_process_has_no_cpu_seconds_nor_component() -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(done.stdout)
    assert cpu.cpu_seconds(pid) is None
    assert cpu.component_of(pid) is None


def test_difference_per_component_counts_new_processes_from_zero() -> None:
    before = {1: ("nova-api", 2.0), 2: ("mariadb", 5.0), 3: ("aodh-listener", 1.0)}
    after = {1: ("nova-api", 2.5), 2: ("mariadb", 5.1), 4: ("nova-api", 0.25),
             3: ("ceilometer-notification", 3.0)}  # pid 3 reused by another component
    assert cpu.difference(before, after) == pytest.approx(
        {"ceilometer-notification": 3.0, "nova-api": 0.75, "mariadb": 0.1})
    assert list(cpu.difference(before, after)) == ["ceilometer-notification", "nova-api",
                                                   "mariadb"]


def test_rss_and_peak_are_the_kernels_figures_in_mib() -> None:
    rss = machine.rss_mib()
    assert rss is not None
    assert rss == pytest.approx(proc_status_kib("VmRSS") / 1024.0, abs=2.0)
    peak = machine.rss_mib("VmHWM")
    assert peak is not None and peak >= rss - 0.1
    assert machine.rss_mib("NoSuchField") is None


def test_the_machine_memory_is_meminfos_total() -> None:
    total_kib = proc_status_kib("MemTotal", "/proc/meminfo")
    assert machine.describe()["memory_gib"] == round(total_kib / 1024.0 / 1024.0, 1)
