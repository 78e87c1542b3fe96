"""The lab's memory figure (``doctor lab status``): RSS summed over the supervisor's tree."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from doctor_tests import lab

# a "supervisor" with one child; both wait on their stdin, so they stay until told. The
# child says when it is up (a starting interpreter's RSS still grows).
_TREE = (
    "import subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-c',"
    " 'import sys; print(\"ready\", flush=True); sys.stdin.read()'], stdin=subprocess.PIPE)\n"
    "print('pid', child.pid, flush=True)\n"
    "sys.stdin.read()\n"
    "child.stdin.close()\n"
    "child.wait()\n"
)


@pytest.fixture
def lab_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCTOR_LAB_DIR", str(tmp_path))
    (tmp_path / "run").mkdir()
    return tmp_path / "run" / "supervisord.pid"


@pytest.fixture
def tree() -> Iterator[tuple[int, int]]:
    proc = subprocess.Popen([sys.executable, "-c", _TREE], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    lines = sorted(proc.stdout.readline().split() for _ in range(2))
    assert lines[1] == ["ready"], lines
    child = int(lines[0][1])
    try:
        yield proc.pid, child
    finally:
        proc.stdin.close()
        proc.wait(10)


def vm_rss_kib(pid: int) -> int:
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def test_no_lab_no_figure(lab_run: Path) -> None:
    assert lab.memory_rss_mib() is None
    lab_run.write_text("not a pid\n")
    assert lab.memory_rss_mib() is None


def test_a_supervisor_that_is_gone_gives_no_figure(lab_run: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    lab_run.write_text(done.stdout)
    assert lab.memory_rss_mib() is None


def test_the_supervisor_and_its_children_with_their_vm_rss(
        lab_run: Path, tree: tuple[int, int]) -> None:
    root, child = tree
    lab_run.write_text("%d\n" % root)
    figure = lab.memory_rss_mib()
    assert figure is not None
    count, mib = figure
    assert count == 2
    expected = (vm_rss_kib(root) + vm_rss_kib(child)) / 1024.0  # what /proc says
    assert mib == pytest.approx(expected, rel=0.05)
