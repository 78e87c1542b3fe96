"""A node's clock read over one open channel: the remote process answers each line with
its clock (run here by a local shell standing in for the SSH session)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from doctor_tests.fault import SshTarget
from doctor_tests.harness import env as harness_env


class LocalStreamShell:
    def __init__(self, target: SshTarget) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def stream(self, command: str, timeout: float = 10.0):
        proc = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc.stdin, proc.stdout

    def check(self, command: str, timeout: float = 30.0) -> str:
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                              check=True).stdout

    def close(self) -> None:
        for proc in self.procs:
            proc.wait(10)


def test_the_same_clock_reads_as_no_offset(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setattr(harness_env, "HostShell", LocalStreamShell)
    target = SshTarget("node-1", "192.0.2.1", "stack", tmp_path / "k", tmp_path / "kh")
    offset = harness_env.measure_clock(target, samples=15)
    # one line each way on an open pipe: a round trip well under 5 ms, so the offset of a
    # clock against itself is within that (a process per sample biased it by 22 ms)
    assert offset.uncertainty_ms < 5.0
    assert abs(offset.offset_s * 1000) <= offset.uncertainty_ms + 0.5
    assert offset.samples == 15
