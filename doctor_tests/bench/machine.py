"""This machine and this process: what the results say they ran on, and peak memory.

Memory and processes come from psutil, except two things psutil does not offer: the
resident high-water mark ``VmHWM`` (read from ``/proc/self/status``) and its reset, by
writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0), done before each run so that a
run's peak is its own. Where the reset is refused the high-water mark is the process's
lifetime peak and :func:`reset_peak_rss` says so (returns False). The CPU's model name
is not in psutil either: it is read from ``/proc/cpuinfo``.
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

LOG = logging.getLogger(__name__)

PROC_SELF = Path("/proc/self")


def status_kib(text: str, key: str) -> int | None:
    """A ``kB`` field of a /proc/<pid>/status text (``VmRSS``, ``VmHWM``...), or None."""
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name == key:
            parts = rest.split()
            if parts and parts[0].isdigit():
                return int(parts[0])
    return None


def rss_mib(key: str = "VmRSS") -> float | None:
    """This process's ``VmRSS`` (or another ``kB`` field of its status) in MiB, 0.1 MiB."""
    if key == "VmRSS":
        return round(psutil.Process().memory_info().rss / 1024.0 / 1024.0, 1)
    # VmHWM (the peak) has no psutil equivalent on Linux: read the kernel's own figure
    try:
        text = (PROC_SELF / "status").read_text()
    except OSError:
        return None
    kib = status_kib(text, key)
    return round(kib / 1024.0, 1) if kib is not None else None


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS; False where the kernel refuses."""
    # no psutil equivalent: clear_refs is a write-only control file of the kernel
    try:
        (PROC_SELF / "clear_refs").write_text("5")
        return True
    except OSError as exc:
        LOG.warning("cannot reset VmHWM (%s): peak RSS is the process's lifetime peak", exc)
        return False


def cpu_model(cpuinfo: str) -> str | None:
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name":
            return " ".join(value.split())
    return None


#: the calibration's fixed work: a pure-Python loop of this many iterations
CALIBRATION_LOOP = 2_000_000


def _loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def cpu_calibration(samples: int = 5, loop: int = CALIBRATION_LOOP) -> dict[str, Any]:
    """A fixed CPU-bound loop in this Python, timed ``samples`` times (process CPU time, so
    a busy second core does not count): the best sample says how fast one core of this
    machine runs the kind of code the lab's services are made of. Results from different
    machines compare by the ratio of their figures."""
    times = []
    for _ in range(samples):
        started = time.process_time()
        _loop(loop)
        times.append(round((time.process_time() - started) * 1000.0, 1))
    return {"python_loop_ms": min(times), "samples_ms": times, "loop": loop}


def describe(calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Host name, CPUs, memory, kernel, Python: the ``machine`` of the results (with the
    CPU calibration when one was measured)."""
    try:  # psutil has no model name (platform.processor() is "x86_64" or "" on Linux)
        model = cpu_model(Path("/proc/cpuinfo").read_text())
    except OSError:
        model = None
    memory = psutil.virtual_memory().total  # MemTotal, in bytes
    return {
        "hostname": socket.gethostname(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory / 1024.0 ** 3, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "calibration": calibration,
    }


def source_revision(repo: Path) -> dict[str, Any]:
    """The commit the benchmark ran from and the tracked files changed since, so a
    results document says which code produced it (``None`` outside a git checkout)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                                  text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            LOG.warning("git %s: %s", " ".join(args), exc)
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    # names only: porcelain status lines lose their leading blank to strip()
    diff = git("diff", "--name-only", "HEAD") if commit else None
    changed = sorted(diff.splitlines()) if diff else []
    return {"commit": commit, "changed_files": changed}
