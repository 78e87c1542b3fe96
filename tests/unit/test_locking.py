"""The machine-wide scenario lock: exclusive, waits with a deadline, released on exit."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from doctor_tests.locking import LockTimeout, scenario_lock


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    with scenario_lock(path, timeout=1):
        with open(path, "a") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(path, "a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
        fcntl.flock(other, fcntl.LOCK_UN)


def test_lock_held_elsewhere_times_out_naming_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    with open(path, "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(LockTimeout, match="lock"), scenario_lock(path, timeout=0.05,
                                                                       interval=0.01):
            pass
