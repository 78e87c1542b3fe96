"""The machine-wide scenario lock: one fault-injecting run at a time on this machine.

The scenarios and ``doctor bench`` fail hosts, boot servers and reset them; another run's
checks would see those changes. Whoever does any of that holds this lock for the whole run
(an ``fcntl.flock`` on :data:`LOCK_PATH`, so it also works across pytest-xdist workers and
separate processes, and is released by the kernel if the holder dies).
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

LOG = logging.getLogger(__name__)

LOCK_PATH = "/tmp/doctor-scenarios.lock"
LOCK_TIMEOUT_S = 1800.0


class LockTimeout(TimeoutError):
    """Another run held the lock for longer than we were willing to wait."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path, self.timeout = path, timeout
        super().__init__("another Doctor scenario held %s for %.0f s" % (path, timeout))


@contextmanager
def scenario_lock(path: str = LOCK_PATH, timeout: float = LOCK_TIMEOUT_S,
                  interval: float = 0.5) -> Iterator[None]:
    """Hold the exclusive lock on ``path`` while inside; wait up to ``timeout`` for it."""
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(path, timeout) from None
                if not waited:
                    LOG.warning("waiting for %s: another Doctor run holds it", path)
                    waited = True
                pause.wait(interval)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
